"""The fast path of judging a record (``checked_fast``): it gives exactly the rows the models' path gives, and
leaves every message that path rejects to it, so rejections and their reasons stay the contracts'. And what a
checked batch works out in few passes: its offsets, its months."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, get_args, get_origin

import orjson
import pytest
from pydantic import BaseModel

from demetra_common.contracts import CampaignDaysFetched, CampaignFetched
from demetra_loader.core.batch import CheckedRecord, check_batch
from demetra_loader.core.records import (
    MIRRORED_VALIDATORS,
    Rejection,
    campaign_days,
    campaign_values,
    check_campaign_record,
    checked_fast,
)

Mutation = Callable[[dict[str, Any]], object]


def slow(value: bytes | None) -> CheckedRecord:
    """What the models' path alone makes of a value."""
    verdict = check_campaign_record(value)
    if isinstance(verdict, Rejection):
        return verdict
    if isinstance(verdict, CampaignDaysFetched):
        return campaign_days(verdict)
    return campaign_values(verdict)


def models_of(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for info in model.model_fields.values():
        for annotation in (info.annotation, *get_args(info.annotation)):
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from models_of(annotation)
            elif get_origin(annotation) is list:
                yield from (m for a in get_args(annotation) if isinstance(a, type) for m in models_of(a))


def test_the_fast_path_tests_the_condition_of_every_validator_of_the_contracts() -> None:
    """A validator added to a contract (or a nested model) fails this until ``checked_fast`` tests its
    condition too and MIRRORED_VALIDATORS names it."""
    for model in {m for top in (CampaignFetched, CampaignDaysFetched) for m in models_of(top)}:
        decorators = model.__pydantic_decorators__
        validators = {
            *decorators.model_validators,
            *decorators.field_validators,
            *decorators.validators,
            *decorators.root_validators,
        }
        assert validators == MIRRORED_VALIDATORS.get(model, set()), model.__name__


def edit(value: bytes, mutate: Mutation) -> bytes:
    payload = orjson.loads(value)
    mutate(payload)
    return orjson.dumps(payload)


def campaign(**changes: Any) -> Mutation:
    return lambda payload: payload["campaign"].update(changes)


def day(index: int, **changes: Any) -> Mutation:
    return lambda payload: payload["days"][index].update(changes)


def top(**changes: Any) -> Mutation:
    return lambda payload: payload.update(changes)


def drop(field: str) -> Mutation:
    return lambda payload: payload.pop(field)


SCHEMA_1_MUTATIONS: dict[str, Mutation] = {
    "as produced": lambda payload: None,
    "clicks above impressions": campaign(clicks=5000),
    "clicks equal to impressions": campaign(clicks=1000),
    "campaign channel differs": campaign(channel="tiktok"),
    "cost too large to store": campaign(cost=1e13),
    "count above bigint": campaign(impressions=2**63, clicks=1),
    "NUL in the name": campaign(name="nul\x00here"),
    "name padded with spaces": campaign(name="  padded  "),
    "blank name": campaign(name="   "),
    "negative impressions": campaign(impressions=-1),
    "float impressions": campaign(impressions=1000.0),
    "numeric string impressions": campaign(impressions="1000"),
    "conversion rate above 1": campaign(conversion_rate=1.5),
    "roi below -1": campaign(roi=-2),
    "bad campaign id": campaign(campaign_id="-bad id"),
    "unknown channel": top(channel="myspace"),
    "naive fetched_at": top(fetched_at="2026-11-25T14:00:00"),
    "fetched_at with an offset": top(fetched_at="2026-11-25T16:00:00+02:00"),
    "bad event id": top(event_id="nope"),
    "no event id (defaulted)": drop("event_id"),
    "unknown schema version": top(schema_version=3),
    "sync id too long": top(sync_id="s" * 65),
    "an extra field": top(attempt="2"),
    "no campaign": drop("campaign"),
}
SCHEMA_2_MUTATIONS: dict[str, Mutation] = {
    "as produced": lambda payload: None,
    "clicks above impressions on a day": day(1, clicks=10**6),
    "days out of order": lambda payload: payload["days"].reverse(),
    "a day twice": lambda payload: payload["days"].append(payload["days"][-1]),
    "a day two days after the fetch": day(-1, date="2026-11-27"),
    "a day one day after the fetch": day(-1, date="2026-11-26"),
    "a day's cost too large to store": day(0, cost=1e13),
    "a day's engagement above bigint": day(0, engagement=2**63),
    "negative conversions": day(0, conversions=-1),
    "NUL in the name": top(name="nul\x00here"),
    "name padded with spaces": top(name=" padded "),
    "no days": top(days=[]),
    "101 days": lambda payload: payload.update(days=[payload["days"][0]] * 101),
    "naive fetched_at": top(fetched_at="2026-11-25T14:00:00"),
    "fetched_at late in the UTC day, offset": top(fetched_at="2026-11-25T23:30:00-05:00"),
    "a day after the fetch's UTC day + 1, not its local one": lambda payload: (
        payload.update(fetched_at="2026-11-25T01:00:00+05:00"),
        payload["days"][-1].update(date="2026-11-26"),
    ),
    "no event id (defaulted)": drop("event_id"),
    "unknown channel": top(channel="myspace"),
}


@pytest.mark.parametrize("name", SCHEMA_1_MUTATIONS)
def test_schema_1_the_fast_path_agrees_with_the_models(
    name: str, make_fetched: Any, kafka_record: Any
) -> None:
    value = edit(make_fetched("fb_1").model_dump_json().encode(), SCHEMA_1_MUTATIONS[name])
    expected = slow(value)
    fast = checked_fast(value)
    assert fast is None if isinstance(expected, Rejection) else fast in (None, expected)
    assert check_batch([kafka_record("cf", 0, 0, value, b"k")]).checked == [expected]


@pytest.mark.parametrize("name", SCHEMA_2_MUTATIONS)
def test_schema_2_the_fast_path_agrees_with_the_models(name: str, make_days: Any, kafka_record: Any) -> None:
    value = edit(make_days("fb_1", count=4).model_dump_json().encode(), SCHEMA_2_MUTATIONS[name])
    expected = slow(value)
    fast = checked_fast(value)
    assert fast is None if isinstance(expected, Rejection) else fast in (None, expected)
    assert check_batch([kafka_record("cf", 0, 0, value, b"k")]).checked == [expected]


def test_messages_as_produced_take_the_fast_path(make_fetched: Any, make_days: Any) -> None:
    at = dt.datetime(2026, 11, 25, 23, 59, tzinfo=dt.UTC)
    for message in (make_fetched("fb_1", fetched_at=at), make_days("fb_2", fetched_at=at, count=100)):
        value = message.model_dump_json().encode()
        assert checked_fast(value) == slow(value) and not isinstance(slow(value), Rejection)


def test_a_batch_knows_the_first_and_the_next_offset_of_each_partition(kafka_record: Any) -> None:
    positions = [("a", 1, 9), ("a", 0, 4), ("b", 0, 0), ("a", 0, 2), ("a", 1, 7), ("a", 0, 3)]
    batch = check_batch(
        [kafka_record(topic, partition, offset, b"x") for topic, partition, offset in positions]
    )
    assert batch.first_offsets == {("a", 0): 2, ("a", 1): 7, ("b", 0): 0}
    assert batch.next_offsets == {("a", 0): 5, ("a", 1): 10, ("b", 0): 1}


def test_a_batch_knows_the_months_of_its_days(make_days: Any, kafka_record: Any) -> None:
    """Partitions are made for exactly the months with a day, a month the days skip included not."""
    spread = make_days(count=3, fetched_at=dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    payload = orjson.loads(spread.model_dump_json())
    for day, date in zip(payload["days"], ("2026-08-31", "2026-10-01", "2026-10-31"), strict=True):
        day["date"] = date
    new_year = make_days(count=40, fetched_at=dt.datetime(2026, 2, 5, tzinfo=dt.UTC))  # from 28 December
    values = [orjson.dumps(payload), new_year.model_dump_json().encode()]
    batch = check_batch([kafka_record("cf", 0, offset, value) for offset, value in enumerate(values)])
    months = {dt.date(2026, 8, 1), dt.date(2026, 10, 1), dt.date(2025, 12, 1), dt.date(2026, 1, 1)}
    assert batch.months == {*months, dt.date(2026, 2, 1)}
