"""``python -m demetra_scheduler``: the cron and its control API on HTTP_PORT (default 8001)."""

from __future__ import annotations

from demetra_common.logging import configure_logging
from demetra_common.ops import serve
from demetra_common.telemetry import configure_tracing
from demetra_scheduler.app import create_app
from demetra_scheduler.settings import SchedulerSettings


def main() -> None:
    settings = SchedulerSettings()
    configure_logging("scheduler", settings.log_level, settings.log_format)
    configure_tracing("scheduler", settings)
    serve(create_app(settings), settings, graceful_shutdown_s=10)


if __name__ == "__main__":
    main()
