"""``python -m demetra_loader``: the loader with its /health, /ready and /metrics on HTTP_PORT (8002)."""

from __future__ import annotations

import gc

from demetra_common.logging import configure_logging
from demetra_common.ops import serve
from demetra_common.telemetry import configure_tracing
from demetra_loader.app import create_app
from demetra_loader.settings import LoaderSettings


def main() -> None:
    settings = LoaderSettings()
    configure_logging("loader", settings.log_level, settings.log_format)
    configure_tracing("loader", settings)
    app = create_app(settings)
    # Validating a batch allocates a few objects per field of every message, nearly all freed by reference
    # counting. With the default thresholds the cyclic collector runs every 700 net allocations and keeps
    # rescanning the batches still alive, which more than doubled the cost of validation. Collect rarely,
    # and never rescan what was loaded at startup.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    serve(app, settings, graceful_shutdown_s=int(settings.loader_shutdown_timeout_s) + 5)


if __name__ == "__main__":
    main()
