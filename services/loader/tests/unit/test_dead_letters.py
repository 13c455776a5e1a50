"""The dead-letter publisher keeps the reason even when the original value no longer fits."""

from __future__ import annotations

from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.records import RejectCode, Rejection
from demetra_loader.handlers import KafkaDeadLetters


class LimitedPublisher:
    """Refuses values longer than ``limit`` bytes, as Kafka does past max.message.bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.published: list[tuple[bytes, bytes | None, dict[str, str]]] = []

    async def publish(self, value: bytes, *, key: bytes | None, headers: dict[str, str]) -> None:
        if len(value) > self.limit:
            raise MessageSizeTooLargeError()
        self.published.append((value, key, headers))


async def test_every_letter_is_published_with_its_key_value_and_reason(kafka_record: Any) -> None:
    publisher = LimitedPublisher(limit=1000)
    letters = [
        DeadLetter(
            kafka_record("cf", 1, 5, b"{}", b"k1"), Rejection(RejectCode.INVALID_MESSAGE, "no campaign")
        ),
        DeadLetter(kafka_record("cf", 2, 9, b"xx", b"k2"), Rejection(RejectCode.INVALID_JSON, "bad")),
    ]
    await KafkaDeadLetters(publisher).send(letters)  # type: ignore[arg-type]
    assert [(value, key, headers["reason"]) for value, key, headers in publisher.published] == [
        (b"{}", b"k1", "invalid_message: no campaign"),
        (b"xx", b"k2", "invalid_json: bad"),
    ]


async def test_a_value_too_large_for_the_dlq_is_dropped_but_the_reason_and_source_are_kept(
    kafka_record: Any,
) -> None:
    publisher = LimitedPublisher(limit=10)
    letter = DeadLetter(
        kafka_record("cf", 3, 7, b"x" * 50, b"big"), Rejection(RejectCode.INVALID_JSON, "bad")
    )
    await KafkaDeadLetters(publisher).send([letter])  # type: ignore[arg-type]
    ((value, key, headers),) = publisher.published
    assert (value, key) == (b"", b"big")
    assert headers["source_offset"] == "7" and headers["reason_code"] == "invalid_json"
    assert "value_dropped" in headers
