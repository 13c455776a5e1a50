"""Tracing is off unless configured; the per-sync spans of a consumed batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from demetra_common import telemetry
from demetra_common.settings import CommonSettings
from demetra_common.telemetry import (
    JsonLinesSpanExporter,
    batch_traces,
    configure_tracing,
    span_processors,
)


def test_tracing_is_off_by_default_and_when_the_sdk_is_disabled() -> None:
    assert configure_tracing("unit", CommonSettings(_env_file=None)) is False
    disabled = CommonSettings(_env_file=None, otel_sdk_disabled=True, traces_file="/dev/null")
    assert configure_tracing("unit", disabled) is False
    assert telemetry.tracing_enabled() is False


def exporter_of(processor: SpanProcessor) -> object:
    return getattr(processor, "span_exporter", None) or processor._batch_processor._exporter  # type: ignore[attr-defined]


def test_an_otlp_endpoint_turns_tracing_on_with_the_otlp_exporter() -> None:
    settings = CommonSettings(_env_file=None, otel_exporter_otlp_endpoint="http://collector:4318/")
    [processor] = span_processors(settings)
    exporter = exporter_of(processor)
    assert isinstance(exporter, OTLPSpanExporter)
    assert exporter._endpoint == "http://collector:4318/v1/traces"


def test_the_exporters_named_by_otel_traces_exporter_and_the_spans_file(tmp_path: Path) -> None:
    settings = CommonSettings(
        _env_file=None, otel_traces_exporter="console", traces_file=str(tmp_path / "spans.jsonl")
    )
    exporters = [exporter_of(processor) for processor in span_processors(settings)]
    assert [type(exporter) for exporter in exporters] == [ConsoleSpanExporter, JsonLinesSpanExporter]
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        span_processors(CommonSettings(_env_file=None, otel_traces_exporter="zipkin"))


def record(headers: dict[str, str], offset: int) -> ConsumerRecord[bytes, bytes]:
    encoded = tuple((key, value.encode()) for key, value in headers.items())
    return ConsumerRecord("t", 0, offset, 0, 0, b"k", b"v", None, 1, 1, encoded)


def test_a_batch_adds_one_span_to_each_syncs_own_trace(tmp_path: Path, monkeypatch: Any) -> None:
    provider = TracerProvider()
    spans_file = tmp_path / "spans.jsonl"
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(spans_file)))
    tracer = provider.get_tracer("unit")
    monkeypatch.setattr(telemetry, "_tracer", tracer)
    carriers = []
    for name in ("publish a", "publish b"):
        with tracer.start_as_current_span(name):
            carrier: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(carrier)
            carriers.append(carrier)
    records = [
        record({"correlation_id": "sync-a", **carriers[0]}, 0),
        record({"correlation_id": "sync-b", **carriers[1]}, 1),
        record({"correlation_id": "sync-a", **carriers[0]}, 2),
        record({}, 3),  # no correlation id (hand-published): no span of its own
    ]
    with tracer.start_as_current_span("batch process"):
        traces = batch_traces("load campaigns", records, started_ns=1)
    traces.end()

    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    by_name = {span["name"]: span for span in spans if span["name"] != "load campaigns"}
    loads = {
        span["attributes"]["demetra.sync_id"]: span for span in spans if span["name"] == "load campaigns"
    }
    assert set(loads) == {"sync-a", "sync-b"}
    for sync, publish in (("sync-a", "publish a"), ("sync-b", "publish b")):
        assert loads[sync]["trace_id"] == by_name[publish]["trace_id"]
        assert loads[sync]["parent_id"] == by_name[publish]["span_id"]
        assert loads[sync]["links"] == [
            {"trace_id": by_name["batch process"]["trace_id"], "span_id": by_name["batch process"]["span_id"]}
        ]
    assert loads["sync-a"]["attributes"]["messaging.batch.message_count"] == 2
    assert loads["sync-b"]["attributes"]["messaging.batch.message_count"] == 1
