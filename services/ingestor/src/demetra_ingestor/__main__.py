"""``python -m demetra_ingestor``: serve one channel (``CHANNEL``) or all four; /health /ready /metrics."""

from __future__ import annotations

from demetra_common.logging import configure_logging
from demetra_common.ops import serve
from demetra_common.telemetry import configure_tracing
from demetra_ingestor.app import create_app
from demetra_ingestor.settings import IngestorSettings


def main() -> None:
    settings = IngestorSettings()
    configure_logging(f"ingestor-{settings.channel}", settings.log_level, settings.log_format)
    configure_tracing(f"ingestor-{settings.channel}", settings)
    serve(create_app(settings), settings, graceful_shutdown_s=30)


if __name__ == "__main__":
    main()
