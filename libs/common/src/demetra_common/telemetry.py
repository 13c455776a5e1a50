"""OpenTelemetry tracing, off unless configured: one trace per sync, from the HTTP request or the cron slot
through sync.requested, the ingestor's fetch and publishes, to the loader's batches.

Switched on by the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp`` or ``console``) or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; the OTLP exporter reads the other
``OTEL_EXPORTER_OTLP_*`` variables itself), and by ``TRACES_FILE`` (every finished span appended as one JSON
line: tests and debugging). ``OTEL_SDK_DISABLED=true`` wins. Off, nothing is installed: the API's no-op
tracer, no Kafka telemetry middleware, no per-batch spans (``tracing_enabled()`` is False).

Trace context travels in Kafka headers through FastStream's ``KafkaTelemetryMiddleware`` only (``make_broker``
adds it). Every span carries ``demetra.sync_id`` when the work is for one sync (``sync_context``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from demetra_common.logging import SYNC_ID_ATTRIBUTE, current_sync_id
from demetra_common.settings import CommonSettings

# FastStream's header carrying a message's correlation id: a sync's messages carry its sync_id there.
CORRELATION_HEADER = "correlation_id"
TRACEPARENT_HEADER = "traceparent"

_PROPAGATOR = TraceContextTextMapPropagator()
_tracer = trace.get_tracer("demetra")


def tracing_enabled() -> bool:
    """True once ``configure_tracing`` installed a tracer provider in this process."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


class SyncIdProcessor(SpanProcessor):
    """Stamps ``demetra.sync_id`` on every span started inside ``sync_context``."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        sync_id = current_sync_id()
        if sync_id is not None:
            span.set_attribute(SYNC_ID_ATTRIBUTE, sync_id)


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span as one JSON line to a file that several processes may share (one
    ``write`` per span on a file opened for appending)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(
            json.dumps(span_record(span), separators=(",", ":"), default=_json_value) + "\n" for span in spans
        )
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _json_value(value: object) -> str:
    """Attribute values JSON has no type for: bytes (a Kafka key) as text."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A span as a flat JSON object: ids in hex, as trace viewers show them."""
    context = span.get_span_context()
    assert context is not None
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get(SERVICE_NAME),
        "start": span.start_time,
        "end": span.end_time,
        "attributes": dict(span.attributes or {}),
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
            }
            for link in span.links
        ],
    }


def _wanted_exporters(settings: CommonSettings) -> list[str]:
    names = [name.strip().lower() for name in settings.otel_traces_exporter.split(",") if name.strip()]
    names = [name for name in names if name != "none"]
    if not names and (settings.otel_exporter_otlp_endpoint or settings.otel_exporter_otlp_traces_endpoint):
        names = ["otlp"]
    return names


def _otlp_exporter(settings: CommonSettings) -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    endpoint = settings.otel_exporter_otlp_traces_endpoint
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint or settings.otel_exporter_otlp_endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if endpoint is None and settings.otel_exporter_otlp_endpoint:
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint)


def span_processors(settings: CommonSettings) -> list[SpanProcessor]:
    """What the settings ask finished spans to go to (empty: tracing off). OTLP and console export in
    batches in the background; the JSON-lines file is written as each span ends (tests read it at once)."""
    if settings.otel_sdk_disabled:
        return []
    processors: list[SpanProcessor] = []
    for name in _wanted_exporters(settings):
        if name == "otlp":
            processors.append(BatchSpanProcessor(_otlp_exporter(settings)))
        elif name == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console or none)")
    if settings.traces_file:
        processors.append(SimpleSpanProcessor(JsonLinesSpanExporter(settings.traces_file)))
    return processors


def configure_tracing(service: str, settings: CommonSettings) -> bool:
    """Install a tracer provider for this process when the settings ask for one; whether tracing is on."""
    processors = span_processors(settings)
    if not processors:
        return False
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SyncIdProcessor())
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)  # flushed and shut down at exit (the provider's atexit hook)
    return True


@contextmanager
def span(name: str, **attributes: str | int) -> Iterator[None]:
    """A span of this process's own work (a no-op span when tracing is off)."""
    with _tracer.start_as_current_span(name, attributes=attributes):
        yield


Headers = Iterable[tuple[str, bytes]]


@dataclass(slots=True)
class _SyncTrace:
    parent: Context
    messages: int = 0


@dataclass(slots=True)
class BatchTraces:
    """The syncs of one consumed batch and the trace each came in. A batch mixes messages of several syncs,
    so FastStream's batch span starts a trace of its own, linked to the producers; ``end`` adds one child
    span per sync to that sync's own trace, linked to the batch span, so each sync's trace reaches the
    loader's commit."""

    name: str
    started_ns: int
    batch_span: trace.SpanContext
    syncs: dict[str, _SyncTrace] = field(default_factory=dict)

    def end(self, **attributes: str | int) -> None:
        link = [Link(self.batch_span)] if self.batch_span.is_valid else []
        for sync_id, sync in self.syncs.items():
            child = _tracer.start_span(
                self.name,
                context=sync.parent,
                kind=SpanKind.CONSUMER,
                links=link,
                start_time=self.started_ns,
                attributes={SYNC_ID_ATTRIBUTE: sync_id, "messaging.batch.message_count": sync.messages},
            )
            child.set_attributes(attributes)
            child.end()


def batch_traces(name: str, records: Iterable[Any], started_ns: int) -> BatchTraces:
    """The syncs (correlation ids) of ``records`` (aiokafka ``ConsumerRecord``) and the trace context the
    first record of each carried. Call only when ``tracing_enabled()``: it reads every record's headers."""
    traces = BatchTraces(name, started_ns, trace.get_current_span().get_span_context())
    for record in records:
        correlation: str | None = None
        carrier: dict[str, str] = {}
        for key, value in record.headers or ():
            if key == CORRELATION_HEADER:
                correlation = value.decode(errors="replace")
            elif key == TRACEPARENT_HEADER or key == "tracestate":
                carrier[key] = value.decode(errors="replace")
        if correlation is None:
            continue
        known = traces.syncs.get(correlation)
        if known is None:
            known = traces.syncs[correlation] = _SyncTrace(_PROPAGATOR.extract(carrier, Context()))
        known.messages += 1
    return traces
