"""Kafka broker factory (every producer waits for all in-sync replicas, idempotently) and its readiness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker

from demetra_common.settings import CommonSettings

if TYPE_CHECKING:
    from demetra_common.ops import ReadinessCheck


def make_broker(settings: CommonSettings, *, client_id: str, **options: Any) -> KafkaBroker:
    """A FastStream ``KafkaBroker`` with ``acks=all`` and the idempotent producer. Connects on start."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers.split(","),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        **options,
    )


def broker_ready(broker: KafkaBroker, *, timeout_s: float = 1.5) -> ReadinessCheck:
    """A readiness check: Kafka answers ``broker``. False until the broker is connected (its admin client
    exists only from then on), so a service built but not yet started reports not ready."""

    async def ready() -> bool:
        return await broker.ping(timeout=timeout_s)

    return ready
