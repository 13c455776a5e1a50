"""Kafka broker factory: every producer in Demetra waits for all in-sync replicas and is idempotent."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from demetra_common.settings import CommonSettings


def make_broker(settings: CommonSettings, *, client_id: str, **options: Any) -> KafkaBroker:
    """A FastStream ``KafkaBroker`` with ``acks=all`` and the idempotent producer. Connects on start."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers.split(","),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        **options,
    )
