"""Kafka broker factory (every producer waits for all in-sync replicas, idempotently; Prometheus metrics of
every consume and publish; trace context in the headers when tracing is on) and its readiness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY

from demetra_common.settings import CommonSettings
from demetra_common.telemetry import tracing_enabled

if TYPE_CHECKING:
    from demetra_common.ops import ReadinessCheck


# FastStream's consume/publish metrics: demetra_kafka_received_messages_total{app_name,handler}, ...
KAFKA_METRICS_PREFIX = "demetra_kafka"


def make_broker(
    settings: CommonSettings, *, client_id: str, middlewares: Sequence[Any] = (), **options: Any
) -> KafkaBroker:
    """A FastStream ``KafkaBroker`` with ``acks=all`` and the idempotent producer. Connects on start.

    Outermost first: FastStream's telemetry middleware (only when ``configure_tracing`` turned tracing on:
    otherwise no middleware work at all), its Prometheus middleware (``app_name`` = ``client_id``; it runs
    once per consumed batch, not per message), then ``middlewares``."""
    telemetry = (KafkaTelemetryMiddleware(include_messages_counters=False),) if tracing_enabled() else ()
    prometheus = KafkaPrometheusMiddleware(
        registry=REGISTRY, app_name=client_id, metrics_prefix=KAFKA_METRICS_PREFIX
    )
    return KafkaBroker(
        settings.kafka_bootstrap_servers.split(","),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        middlewares=(*telemetry, prometheus, *middlewares),
        **options,
    )


def broker_ready(broker: KafkaBroker, *, timeout_s: float = 1.5) -> ReadinessCheck:
    """A readiness check: Kafka answers ``broker``. False until the broker is connected (its admin client
    exists only from then on), so a service built but not yet started reports not ready."""

    async def ready() -> bool:
        return await broker.ping(timeout=timeout_s)

    return ready
