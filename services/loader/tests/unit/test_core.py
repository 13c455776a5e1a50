"""The loader's pure core: judging records, planning a batch, counting, dead-letter headers, event rows."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from demetra_common.contracts import CampaignFetched, Channel, EventType, deterministic_event_id
from demetra_common.topics import Topics
from demetra_loader import repository
from demetra_loader.core.batch import BatchPlan, CheckedBatch, check_batch, next_offsets, plan_batch
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.events import event_values
from demetra_loader.core.records import RejectCode, Rejection, check_campaign_record
from demetra_loader.core.tally import Tally, load_event_values, tally
from demetra_loader.settings import LoaderSettings

T = dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)
NONE = {"inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0, "rows": 0, "restated": 0}


def raw(message: CampaignFetched, **changes: Any) -> bytes:
    payload = orjson.loads(message.model_dump_json())
    payload.update(changes)
    return orjson.dumps(payload)


def as_records(kafka_record: Any, values: Sequence[bytes | None], partition: int = 0) -> list[Any]:
    return [kafka_record("cf", partition, offset, value, b"k") for offset, value in enumerate(values)]


class TestCheckCampaignRecord:
    def test_a_valid_message_is_returned_validated(self, make_fetched: Any) -> None:
        message = make_fetched("fb_1")
        assert check_campaign_record(message.model_dump_json().encode()) == message

    @pytest.mark.parametrize(
        ("value", "code", "owner"),
        [
            (None, RejectCode.INVALID_JSON, None),
            (b"", RejectCode.INVALID_JSON, None),
            (b'{"sync_id": "s", "channel": "facebook"', RejectCode.INVALID_JSON, None),
            (b"[1, 2]", RejectCode.INVALID_MESSAGE, None),
            (b'{"sync_id": "s", "channel": "facebook"}', RejectCode.INVALID_MESSAGE, ("s", Channel.FACEBOOK)),
            (b'{"sync_id": "s", "channel": "myspace"}', RejectCode.INVALID_MESSAGE, None),
            (b'{"sync_id": 5, "channel": "tiktok"}', RejectCode.INVALID_MESSAGE, None),
        ],
    )
    def test_unreadable_or_incomplete_messages_are_rejected(
        self, value: bytes | None, code: RejectCode, owner: tuple[str, Channel] | None
    ) -> None:
        verdict = check_campaign_record(value)
        assert isinstance(verdict, Rejection)
        assert verdict.code is code
        assert (verdict.sync_id, verdict.channel) == (owner or (None, None))

    def test_clicks_above_impressions_is_rejected_with_the_contracts_reason(self, make_fetched: Any) -> None:
        message = make_fetched(sync_id="s-9", channel=Channel.TIKTOK)
        value = message.model_dump_json().replace('"clicks":10', '"clicks":5000').encode()
        verdict = check_campaign_record(value)
        assert isinstance(verdict, Rejection)
        assert verdict.code is RejectCode.INVALID_MESSAGE
        assert "must not exceed impressions" in verdict.detail
        assert (verdict.sync_id, verdict.channel) == ("s-9", Channel.TIKTOK)

    def test_an_unknown_schema_version_is_its_own_reason(self, make_fetched: Any) -> None:
        verdict = check_campaign_record(raw(make_fetched(), schema_version=3))
        assert isinstance(verdict, Rejection)
        assert verdict.code is RejectCode.UNKNOWN_SCHEMA_VERSION
        assert verdict.detail.startswith("schema_version:")

    @pytest.mark.parametrize(
        ("field_name", "value"),
        [("cost", 1e13), ("impressions", 2**63), ("name", "nul\x00here")],
    )
    def test_values_the_table_cannot_hold_are_rejected_before_postgresql(
        self, make_fetched: Any, field_name: str, value: Any
    ) -> None:
        payload = orjson.loads(make_fetched().model_dump_json())
        payload["campaign"][field_name] = value
        verdict = check_campaign_record(json.dumps(payload).encode())
        assert isinstance(verdict, Rejection)
        assert verdict.code is RejectCode.INVALID_MESSAGE
        assert field_name in verdict.detail or "count" in verdict.detail


class TestCheckSchema2:
    def test_a_valid_days_message_is_returned_validated(self, make_days: Any) -> None:
        message = make_days("fb_1", count=5)
        assert check_campaign_record(message.model_dump_json().encode()) == message

    def test_a_message_without_schema_version_is_schema_1(self, make_fetched: Any) -> None:
        message = make_fetched("fb_1")
        payload = orjson.loads(message.model_dump_json())
        del payload["schema_version"]
        assert check_campaign_record(orjson.dumps(payload)) == message

    def test_a_bad_day_is_rejected_naming_the_day_and_the_sync(self, make_days: Any) -> None:
        payload = orjson.loads(make_days(sync_id="s-2", channel=Channel.GOOGLE_ADS).model_dump_json())
        payload["days"][1]["clicks"] = 10**6
        verdict = check_campaign_record(orjson.dumps(payload))
        assert isinstance(verdict, Rejection)
        assert verdict.code is RejectCode.INVALID_MESSAGE
        assert verdict.detail.startswith("days.1: ") and "must not exceed impressions" in verdict.detail
        assert (verdict.sync_id, verdict.channel) == ("s-2", Channel.GOOGLE_ADS)

    @pytest.mark.parametrize(("field_name", "value"), [("cost", 1e13), ("engagement", 2**63)])
    def test_day_values_the_table_cannot_hold_are_rejected(
        self, make_days: Any, field_name: str, value: Any
    ) -> None:
        payload = orjson.loads(make_days().model_dump_json())
        payload["days"][0][field_name] = value
        verdict = check_campaign_record(orjson.dumps(payload))
        assert isinstance(verdict, Rejection)
        assert verdict.code is RejectCode.INVALID_MESSAGE
        assert verdict.detail.startswith("days[")

    def test_the_checked_record_holds_its_rows_and_the_plan_stages_them(
        self, make_days: Any, kafka_record: Any
    ) -> None:
        message = make_days("fb_1", count=2)
        batch = check_batch(as_records(kafka_record, [b"junk", message.model_dump_json().encode()]))
        days = batch.days(1)
        assert [row[1] for row in days.rows] == [day.date for day in message.days]
        assert all(row[0] == "fb_1" and row[-1] == message.sync_id for row in days.rows)
        assert batch.months == {message.days[0].date.replace(day=1), message.days[-1].date.replace(day=1)}
        assert batch.plan.staged == {1: days.rows} and batch.plan.day_records == {"fb_1": [1]}


class TestPlanBatch:
    def test_duplicates_collapse_to_the_newest_and_a_later_record_wins_a_tie(
        self, make_fetched: Any, kafka_record: Any
    ) -> None:
        hours = [1, 3, 0, 3, 2]
        messages = [make_fetched("x", fetched_at=T + dt.timedelta(hours=h)) for h in hours]
        values = [m.model_dump_json().encode() for m in messages]
        plan = plan_batch(check_batch(as_records(kafka_record, values)), {})
        assert plan.winners == {"x": 3}
        assert sorted(plan.superseded) == [0, 1, 2, 4]

    def test_records_below_the_stored_offset_are_skipped(self, make_fetched: Any, kafka_record: Any) -> None:
        values = [make_fetched().model_dump_json().encode() for _ in range(6)]
        records = as_records(kafka_record, values[:3], 0) + as_records(kafka_record, values[3:], 1)
        batch = check_batch(records)
        plan = plan_batch(batch, {("cf", 0): 2, ("cf", 1): 0})
        assert plan.skipped == 2
        assert sorted(plan.winners.values()) == [2, 3, 4, 5]

    def test_rejections_are_kept_by_index(self, kafka_record: Any) -> None:
        plan = plan_batch(check_batch(as_records(kafka_record, [b"nope", None])), {})
        assert set(plan.rejected) == {0, 1}
        assert not plan.winners


def test_tally_counts_each_record_once_for_its_sync_and_channel(make_fetched: Any, kafka_record: Any) -> None:
    messages = [
        make_fetched("a", sync_id="s1"),
        make_fetched("b", sync_id="s1"),
        make_fetched("c", sync_id="s1"),
        make_fetched("a", sync_id="s2", fetched_at=T + dt.timedelta(hours=1)),
    ]
    values: list[bytes | None] = [m.model_dump_json().encode() for m in messages]
    values.append(b'{"sync_id": "s2", "channel": "facebook"}')
    values.append(b"garbage")
    batch = check_batch(as_records(kafka_record, values))
    plan = plan_batch(batch, {})
    # PostgreSQL says: b was inserted, c updated, a (s2's newer version) unchanged.
    tallies = tally(batch, plan, {"b": True, "c": False})
    counts = {key: value.counts().model_dump(exclude_none=True) for key, value in tallies.items()}
    assert counts == {  # schema 1 names no fetch attempt
        ("s1", Channel.FACEBOOK, None): {**NONE, "inserted": 1, "updated": 1, "unchanged": 1},
        ("s2", Channel.FACEBOOK, None): {**NONE, "unchanged": 1, "rejected": 1},
    }
    assert tallies[("s1", Channel.FACEBOOK, None)].first_record == ("cf", 0, 0)  # the lowest counted
    assert tallies[("s2", Channel.FACEBOOK, None)].first_record == ("cf", 0, 3)


def test_load_event_ids_derive_from_the_first_record_counted() -> None:
    batch = CheckedBatch([], [])
    tallies = tally(batch, BatchPlan(), {})
    assert load_event_values("loader", tallies, T) == []
    counts = {("s", Channel.TIKTOK, None): Tally(("cf", 4, 17), inserted=2)}
    (row,) = load_event_values("loader", counts, T)
    assert row[0] == deterministic_event_id(EventType.LOAD, "loader", "cf", 4, 17, "s", Channel.TIKTOK)
    assert row[1:4] == ("s", "tiktok", "load")
    assert json.loads(row[4]) == {**NONE, "inserted": 2}
    assert load_event_values("loader", counts, T)[0][0] == row[0]
    assert load_event_values("other-group", counts, T)[0][0] != row[0]


def test_dead_letter_headers_keep_the_originals_and_say_why_and_where_from(kafka_record: Any) -> None:
    headers = (("trace", b"abc"), ("reason", b"old"))
    record = kafka_record("t.campaign.fetched", 3, 42, b"{}", b"fb_1", headers)
    letter = DeadLetter(record, Rejection(RejectCode.INVALID_MESSAGE, "campaign: Field required"))
    assert letter.headers() == {
        "trace": "abc",
        "reason": "invalid_message: campaign: Field required",
        "reason_code": "invalid_message",
        "source_topic": "t.campaign.fetched",
        "source_partition": "3",
        "source_offset": "42",
    }


def test_next_offsets_are_one_past_the_last_record_of_each_partition(kafka_record: Any) -> None:
    records = [kafka_record("a", 0, 5, b""), kafka_record("a", 1, 9, b""), kafka_record("a", 0, 7, b"")]
    assert next_offsets(records) == {("a", 0): 8, ("a", 1): 10}


def test_an_event_without_event_id_gets_one_from_its_position(kafka_record: Any) -> None:
    topics = Topics("p.")
    record = kafka_record(topics.sync_requested, 1, 7, b'{"sync_id": "manual-1", "trigger": "manual"}')
    row = event_values(record, topics)
    assert not isinstance(row, Rejection)
    assert row[0] == deterministic_event_id(topics.sync_requested, 1, 7)
    assert event_values(record, topics) == row  # a redelivery gives the same row
    assert row[1:4] == ("manual-1", None, "sync.requested")
    assert row[5] == dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC)  # the record's timestamp


def test_an_event_with_event_id_keeps_it(kafka_record: Any) -> None:
    topics = Topics()
    event_id = uuid.uuid4()
    value = json.dumps(
        {"event_id": str(event_id), "sync_id": "s", "channel": "instagram", "type": "fetch.started"}
    ).encode()
    row = event_values(kafka_record(topics.sync_events, 0, 0, value), topics)
    assert not isinstance(row, Rejection)
    assert (row[0], row[2], row[3]) == (event_id, "instagram", "fetch.started")


def test_settings_default_to_port_8002_and_prefix_the_consumer_groups() -> None:
    settings = LoaderSettings(_env_file=None, kafka_topic_prefix="t1.")
    assert settings.http_port == 8002
    assert (settings.campaign_group, settings.events_group) == ("t1.loader", "t1.loader.events")
    assert LoaderSettings(_env_file=None).campaign_group == "loader"


def test_row_positions_the_loader_reads_back_match_the_columns() -> None:
    for name in ("campaign_id", "channel", "fetched_at", "sync_id"):
        assert repository.CAMPAIGN_DATA_COLUMNS[getattr(repository, name.upper())] == name
