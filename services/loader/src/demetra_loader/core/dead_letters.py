"""Rejected records on their way to campaign.fetched.dlq: what a dead letter carries, and where it goes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from demetra_loader.core.records import Rejection, SourceRecord


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: SourceRecord
    rejection: Rejection

    def headers(self) -> dict[str, str]:
        """The original headers plus why and where from (``reason``, ``source_*``)."""
        headers = {name: value.decode(errors="replace") for name, value in self.record.headers}
        headers.update(
            reason=f"{self.rejection.code.value}: {self.rejection.detail}",
            reason_code=self.rejection.code.value,
            source_topic=self.record.topic,
            source_partition=str(self.record.partition),
            source_offset=str(self.record.offset),
        )
        return headers


class DeadLetterSink(Protocol):
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Publish every letter and wait until Kafka has them all (raise otherwise)."""
