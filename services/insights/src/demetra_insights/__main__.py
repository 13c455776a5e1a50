"""``python -m demetra_insights``: the service, with /health, /ready and /metrics on HTTP_PORT (8003)."""

from __future__ import annotations

from demetra_common.logging import configure_logging
from demetra_common.ops import serve
from demetra_common.telemetry import configure_tracing
from demetra_insights.app import create_app
from demetra_insights.settings import InsightsSettings


def main() -> None:
    settings = InsightsSettings()
    configure_logging("insights", settings.log_level, settings.log_format)
    configure_tracing("insights", settings)
    serve(create_app(settings), settings, graceful_shutdown_s=30)


if __name__ == "__main__":
    main()
