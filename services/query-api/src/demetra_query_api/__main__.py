"""``python -m demetra_query_api``: uvicorn on HTTP_HOST:HTTP_PORT with HTTP_WORKERS processes."""

from __future__ import annotations

import uvicorn

from demetra_common.logging import configure_logging
from demetra_query_api.app import SERVICE, app_from_environment, create_app
from demetra_query_api.settings import QueryApiSettings


def main() -> None:
    settings = QueryApiSettings()
    configure_logging(SERVICE, settings.log_level, settings.log_format)
    common = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,  # keep the JSON logging configured above
        "access_log": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": 20,
    }
    if settings.http_workers > 1:
        # Several processes need an import string; each worker builds its own app from the environment.
        target = f"{app_from_environment.__module__}:{app_from_environment.__name__}"
        uvicorn.run(target, factory=True, workers=settings.http_workers, **common)  # type: ignore[arg-type]
    else:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
