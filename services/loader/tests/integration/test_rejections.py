"""Poison messages: dead-lettered with their reason, counted as rejected, never blocking good ones."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
import orjson

from demetra_common.contracts import Channel
from demetra_common.topics import Topics
from demetra_testkit import eventually, read_topic


def _mutated(message: Any, **changes: Any) -> bytes:
    payload = orjson.loads(message.model_dump_json())
    for path, value in changes.items():
        target = payload
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return orjson.dumps(payload)


async def test_poison_messages_go_to_the_dlq_with_their_reason_while_good_ones_around_them_load(
    run_loader: Any,
    publish: Any,
    make_fetched: Any,
    make_days: Any,
    topics: Topics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    load_counts: Any,
) -> None:
    template = make_fetched("tpl", sync_id="sync-p", channel=Channel.GOOGLE_ADS)
    days = make_days("tpl-days", sync_id="sync-p", channel=Channel.GOOGLE_ADS)
    poison: list[tuple[bytes | None, bytes | None, str, bool]] = [
        # key, value, expected reason_code, counted as rejected for (sync-p, google_ads)
        (b"bad-json", b'{"sync_id": "sync-p", "channel": "google_ads", ', "invalid_json", False),
        (b"missing", _mutated(template, campaign__name=...), "invalid_message", True),
        (b"clicks", _mutated(template, campaign__clicks=10**6), "invalid_message", True),
        (
            b"channel",
            _mutated(template, channel="myspace", campaign__channel="myspace"),
            "invalid_message",
            False,
        ),
        (b"version", _mutated(template, schema_version=3), "unknown_schema_version", True),
        (b"schema-1-as-2", _mutated(template, schema_version=2), "invalid_message", True),
        (b"no-days", _mutated(days, days=[]), "invalid_message", True),
        (b"huge-cost", _mutated(template, campaign__cost=1e15), "invalid_message", True),
        (b"tombstone", None, "invalid_json", False),
    ]
    good = [make_fetched(sync_id="sync-p", channel=Channel.GOOGLE_ADS) for _ in range(len(poison) + 1)]
    interleaved: list[Any] = [good[0]]
    for (key, value, _, _), after in zip(poison, good[1:], strict=True):
        interleaved += [(key, value), after]
    await publish(topics.campaign_fetched, interleaved)

    async with run_loader():
        letters = await read_topic(kafka_bootstrap, topics.campaign_fetched_dlq, count=len(poison))

        async def all_good_loaded() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM campaigns") == len(good))

        await eventually(all_good_loaded, what="the good messages loaded")

    by_key = {letter.key: letter for letter in letters}
    assert len(letters) == len(poison)
    for key, value, code, _ in poison:
        letter = by_key[key]
        headers = {name: raw.decode() for name, raw in letter.headers}
        assert headers["reason_code"] == code
        assert headers["reason"].startswith(code + ": ")
        assert headers["source_topic"] == topics.campaign_fetched
        assert int(headers["source_offset"]) >= 0
        assert 0 <= int(headers["source_partition"]) < 6
        assert letter.value == (value or b"")
    assert "clicks" in {n: v.decode() for n, v in by_key[b"clicks"].headers}["reason"]

    counts = (await load_counts(db))[("sync-p", "google_ads")]
    assert counts == Counter(inserted=len(good), rejected=sum(1 for *_, counted in poison if counted))
    stored = {row["campaign_id"] for row in await db.fetch("SELECT campaign_id FROM campaigns")}
    assert stored == {message.campaign.campaign_id for message in good}


async def test_a_row_postgresql_refuses_is_dead_lettered_and_the_rest_of_its_batch_loads(
    run_loader: Any,
    publish: Any,
    make_fetched: Any,
    topics: Topics,
    db: asyncpg.Connection,
    kafka_bootstrap: str,
    load_counts: Any,
) -> None:
    # A rule the contract does not know about, so only PostgreSQL can refuse the row.
    await db.execute("ALTER TABLE campaigns ADD CONSTRAINT no_cursed_names CHECK (name <> 'cursed')")
    batch = [make_fetched(sync_id="sync-db") for _ in range(40)]
    cursed = make_fetched("cursed_1", sync_id="sync-db", name="cursed")
    await publish(topics.campaign_fetched, [*batch[:17], cursed, *batch[17:]])

    async with run_loader():
        (letter,) = await read_topic(kafka_bootstrap, topics.campaign_fetched_dlq, count=1)

        async def loaded() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM campaigns") == len(batch))

        await eventually(loaded, what="the other rows loaded")
    headers = {name: raw.decode() for name, raw in letter.headers}
    assert headers["reason_code"] == "rejected_by_database"
    assert "no_cursed_names" in headers["reason"]
    assert letter.key == b"cursed_1"
    assert (await load_counts(db))[("sync-db", "facebook")] == Counter(inserted=40, rejected=1)
