"""``python -m demetra_query_api``: uvicorn on HTTP_HOST:HTTP_PORT with HTTP_WORKERS processes."""

from __future__ import annotations

from typing import Any

from demetra_common.logging import configure_logging
from demetra_common.ops import serve
from demetra_common.telemetry import configure_tracing
from demetra_query_api.app import SERVICE, app_from_environment, create_app
from demetra_query_api.server import HttpProtocol
from demetra_query_api.settings import QueryApiSettings


def main() -> None:
    settings = QueryApiSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    options: dict[str, Any] = {
        "access_log": False,
        "proxy_headers": True,
        "graceful_shutdown_s": 20,
        "http": HttpProtocol,
    }
    if settings.http_workers > 1:
        # Several processes need an import string; each worker builds its own app from the environment.
        target = f"{app_from_environment.__module__}:{app_from_environment.__name__}"
        serve(target, settings, factory=True, workers=settings.http_workers, **options)
    else:
        configure_tracing(SERVICE, settings)  # in the process that serves (workers: app_from_environment)
        serve(create_app(settings), settings, **options)


if __name__ == "__main__":
    main()
