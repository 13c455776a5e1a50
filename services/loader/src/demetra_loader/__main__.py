"""``python -m demetra_loader``: the loader with its /health, /ready and /metrics on HTTP_PORT (8002)."""

from __future__ import annotations

import uvicorn

from demetra_common.logging import configure_logging
from demetra_loader.app import create_app
from demetra_loader.settings import LoaderSettings


def main() -> None:
    settings = LoaderSettings()
    configure_logging("loader", settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=int(settings.loader_shutdown_timeout_s) + 5,
    )


if __name__ == "__main__":
    main()
