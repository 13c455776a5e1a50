"""The broker factory and its readiness check, without a Kafka to talk to."""

from __future__ import annotations

from demetra_common.kafka import broker_ready, make_broker
from demetra_common.settings import CommonSettings


async def test_a_broker_not_yet_connected_is_not_ready() -> None:
    broker = make_broker(CommonSettings(_env_file=None), client_id="unit")
    assert await broker_ready(broker, timeout_s=1.0)() is False
