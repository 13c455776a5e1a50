"""JSON log lines: ISO-8601 UTC time, level, service, message, and the sync, trace and request in force."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from asgi_correlation_id.context import correlation_id
from opentelemetry.sdk.trace import TracerProvider

from demetra_common.logging import iso_utc, sync_context

LogLines = Callable[[], list[dict[str, Any]]]  # the json_log fixture (conftest.py)


def test_a_line_is_one_json_object_with_utc_time_level_service_and_message(json_log: LogLines) -> None:
    logging.getLogger("demetra.test").warning("hello %s", "world")
    [record] = json_log()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record
    assert {k: record[k] for k in ("level", "service", "logger", "message")} == {
        "level": "WARNING",
        "service": "unit",
        "logger": "demetra.test",
        "message": "hello world",
    }
    assert not {"sync_id", "trace_id", "request_id"} & record.keys()


def test_iso_utc_is_utc_whatever_the_local_zone() -> None:
    assert iso_utc(0.5) == "1970-01-01T00:00:00.500Z"


def test_lines_carry_the_sync_the_trace_and_the_request_in_force(json_log: LogLines) -> None:
    tracer = TracerProvider().get_tracer("unit")  # a real span, without installing a global provider
    token = correlation_id.set("req-1")
    try:
        with tracer.start_as_current_span("work") as span, sync_context("sync-1"):
            logging.getLogger("demetra.test").info("inside")
            expected_trace = format(span.get_span_context().trace_id, "032x")
            assert span.attributes is not None and span.attributes["demetra.sync_id"] == "sync-1"
    finally:
        correlation_id.reset(token)
    logging.getLogger("demetra.test").info("outside")
    inside, outside = json_log()
    assert (inside["sync_id"], inside["trace_id"], inside["request_id"]) == (
        "sync-1",
        expected_trace,
        "req-1",
    )
    assert not {"sync_id", "trace_id", "request_id"} & outside.keys()
