"""``python -m demetra_ingestor``: serve one channel (``CHANNEL``) or all four; /health /ready /metrics."""

from __future__ import annotations

import uvicorn

from demetra_common.logging import configure_logging
from demetra_ingestor.app import create_app
from demetra_ingestor.settings import IngestorSettings


def main() -> None:
    settings = IngestorSettings()
    configure_logging(f"ingestor-{settings.channel}", settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
