"""JSON logs: one object per line with an ISO-8601 UTC ``time``, ``level``, ``service``, ``logger``,
``message`` and, when known, ``sync_id`` (``sync_context``), ``trace_id`` / ``span_id`` (the current span,
when tracing is on) and ``request_id`` (the HTTP request being served, ``X-Request-ID``)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from asgi_correlation_id.context import correlation_id as request_id_var
from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

# A sync's work carries its id under this name on every span (the log field is ``sync_id``).
SYNC_ID_ATTRIBUTE = "demetra.sync_id"

_sync_id: ContextVar[str | None] = ContextVar("sync_id", default=None)


def current_sync_id() -> str | None:
    return _sync_id.get()


@contextmanager
def sync_context(sync_id: str) -> Iterator[None]:
    """Every log record written inside carries ``sync_id``, and so does every span: the current one (which
    may have started before the sync was known, e.g. a consumer's) and each started inside."""
    token = _sync_id.set(sync_id)
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(SYNC_ID_ATTRIBUTE, sync_id)
    try:
        yield
    finally:
        _sync_id.reset(token)


def current_request_id() -> str | None:
    """The id of the HTTP request being served (``X-Request-ID``), if any."""
    return request_id_var.get()


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        sync_id = _sync_id.get()
        if sync_id is not None and not hasattr(record, "sync_id"):
            record.sync_id = sync_id
        request_id = request_id_var.get()
        if request_id is not None:
            record.request_id = request_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


def iso_utc(created: float) -> str:
    """A record's creation time as ISO-8601 in UTC, to the millisecond: ``2026-11-25T14:00:00.123Z``."""
    moment = dt.datetime.fromtimestamp(created, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _UtcJsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record.created)


class _UtcTextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record.created)


def json_formatter() -> logging.Formatter:
    return _UtcJsonFormatter(
        "%(asctime)s %(levelname)s %(service)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    )


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route the root logger to stdout, once per process."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    if fmt == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(
            _UtcTextFormatter("%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
