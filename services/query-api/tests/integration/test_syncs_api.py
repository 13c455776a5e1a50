"""GET /api/syncs and /api/syncs/{id}: every status built from event rows as the loader writes them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from demetra_common.contracts import Channel, EventType, SyncEventType, Trigger, utcnow

FB, IG, GADS, TT = Channel.FACEBOOK, Channel.INSTAGRAM, Channel.GOOGLE_ADS, Channel.TIKTOK
STARTED, COMPLETED, FAILED = (
    SyncEventType.FETCH_STARTED,
    SyncEventType.FETCH_COMPLETED,
    SyncEventType.FETCH_FAILED,
)


def recently(minutes: float = 1) -> dt.datetime:
    return utcnow() - dt.timedelta(minutes=minutes)


async def status_of(client: httpx.AsyncClient, sync_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/syncs/{sync_id}")
    assert response.status_code == 200, response.text
    return response.json()


def channel_states(body: dict[str, Any]) -> dict[str, str]:
    return {c["channel"]: c["status"] for c in body["channels"]}


async def test_a_running_sync_shows_pending_fetching_and_loading_channels(
    client: httpx.AsyncClient, seed: Any
) -> None:
    sync = seed.sync("sched-running", recently())
    await sync.requested([FB, IG, GADS])
    await sync.fetch(IG, STARTED, 1)
    await sync.fetch(GADS, STARTED, 1)
    await sync.fetch(GADS, COMPLETED, 3, count=10)
    await sync.load(GADS, 4, inserted=4, updated=1)

    body = await status_of(client, "sched-running")
    assert body["status"] == "running"
    assert channel_states(body) == {"facebook": "pending", "instagram": "fetching", "google_ads": "loading"}
    assert body["finished_at"] is None and body["trigger"] == "schedule" and body["request_seen"]
    counts = {"requested": 3, "fetched": 10, "loaded": 5, "inserted": 4, "updated": 1, "unchanged": 0}
    assert body["counts"] == {**counts, "rejected": 0, "rows_fetched": 0, "rows_loaded": 0, "restated": 0}
    assert 55 <= body["duration_s"] <= 600


async def test_a_sync_whose_channels_all_loaded_is_completed_with_times(
    client: httpx.AsyncClient, seed: Any
) -> None:
    start = recently(5)
    sync = seed.sync("sched-done", start)
    await sync.requested([FB, TT])
    for channel in (FB, TT):
        await sync.fetch(channel, STARTED, 1)
        await sync.fetch(channel, COMPLETED, 5, count=3)
    await sync.load(FB, 6, inserted=2)
    await sync.load(FB, 8, unchanged=1)
    await sync.load(TT, 7, updated=2, rejected=1)

    body = await status_of(client, "sched-done")
    assert body["status"] == "completed"
    assert set(channel_states(body).values()) == {"completed"}
    assert dt.datetime.fromisoformat(body["finished_at"]) == start + dt.timedelta(seconds=8)
    assert body["duration_s"] == pytest.approx(8.0)
    assert body["counts"]["loaded"] == 6 and body["counts"]["rejected"] == 1
    # The list serves a finished sync's status as the projection stored it: the same as the sync's own.
    assert (await client.get("/api/syncs")).json()["items"] == [body]


async def test_some_channels_failed_and_the_rest_completed_is_partial(
    client: httpx.AsyncClient, seed: Any
) -> None:
    sync = seed.sync("api-partial", recently(2))
    await sync.requested([FB, IG], trigger=Trigger.API)
    await sync.fetch(FB, FAILED, 2, error="HTTP 500 from Graph API")
    await sync.fetch(IG, COMPLETED, 2, count=1)
    await sync.load(IG, 3, inserted=1)

    body = await status_of(client, "api-partial")
    assert body["status"] == "partial" and body["trigger"] == "api"
    failed = next(c for c in body["channels"] if c["channel"] == "facebook")
    assert failed["error"] == "HTTP 500 from Graph API" and not failed["timed_out"]


async def test_every_channel_failed_is_failed(client: httpx.AsyncClient, seed: Any) -> None:
    sync = seed.sync("sched-failed", recently(2))
    await sync.requested([FB, IG])
    await sync.fetch(FB, FAILED, 2, error="token expired")
    await sync.fetch(IG, FAILED, 3, error="quota exceeded")
    body = await status_of(client, "sched-failed")
    assert body["status"] == "failed" and not body["timed_out"]


async def test_a_sync_without_progress_past_the_timeout_is_failed_by_timeout(
    client: httpx.AsyncClient, seed: Any
) -> None:
    start = utcnow() - dt.timedelta(hours=2)  # SYNC_TIMEOUT is 600 s in these tests
    sync = seed.sync("sched-stuck", start)
    await sync.requested([FB, IG])
    await sync.fetch(FB, STARTED, 1)
    await sync.fetch(IG, COMPLETED, 1, count=5)
    await sync.load(IG, 2, inserted=2)

    body = await status_of(client, "sched-stuck")
    assert body["status"] == "failed" and body["timed_out"]
    assert {c["channel"]: (c["status"], c["timed_out"]) for c in body["channels"]} == {
        "facebook": ("failed", True),
        "instagram": ("failed", True),
    }
    assert "timeout" in body["channels"][0]["error"]
    assert dt.datetime.fromisoformat(body["finished_at"]) == start + dt.timedelta(seconds=2 + 600)


async def test_duplicated_rows_do_not_change_status_or_counts(
    client: httpx.AsyncClient, seed: Any, db: Any
) -> None:
    sync = seed.sync("sched-dupes", recently(3))
    request = await sync.requested([FB])
    await sync.requested([FB])  # a second scheduler replica: another event id, the same request
    started_id = uuid.uuid4()
    await sync.fetch(FB, STARTED, 1, event_id=started_id)
    await sync.fetch(FB, STARTED, 2, event_id=started_id)  # re-sent fetch.started: same event id, one row
    await sync.fetch(FB, COMPLETED, 3, count=2)
    await sync.fetch(FB, COMPLETED, 4, count=2)  # a re-run fetch reports the same count again
    await sync.load(FB, 5, inserted=2)
    assert request.event_id

    body = await status_of(client, "sched-dupes")
    assert body["status"] == "completed"
    assert body["counts"] == {
        "requested": 1, "fetched": 2, "loaded": 2, "inserted": 2, "updated": 0, "unchanged": 0, "rejected": 0,
        "rows_fetched": 0, "rows_loaded": 0, "restated": 0,
    }  # fmt: skip
    assert await db.fetchval("SELECT count(*) FROM events WHERE sync_id = 'sched-dupes'") == 6


async def test_a_sync_known_only_from_fetch_and_load_rows_is_shown(
    client: httpx.AsyncClient, seed: Any
) -> None:
    sync = seed.sync("manual-orphan", recently(1))
    await sync.fetch(TT, STARTED, 0)
    await sync.fetch(TT, COMPLETED, 1, count=1)
    await sync.load(TT, 2, unchanged=1)

    body = await status_of(client, "manual-orphan")
    assert body["status"] == "completed"
    assert not body["request_seen"] and body["trigger"] is None and body["requested_at"] is None
    listed = (await client.get("/api/syncs")).json()["items"]
    assert [s["sync_id"] for s in listed] == ["manual-orphan"]


async def test_an_unknown_sync_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/syncs/sched-20990101T0000Z")
    assert response.status_code == 404
    assert "sched-20990101T0000Z" in response.json()["detail"]


@pytest.mark.parametrize("sync_id", ["-leading-dash", "a" * 65, "semi;colon"])
async def test_a_malformed_sync_id_is_a_422(client: httpx.AsyncClient, sync_id: str) -> None:
    response = await client.get(f"/api/syncs/{sync_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "sync_id"]


@pytest.fixture
async def history(seed: Any) -> list[str]:
    """Twelve syncs ten seconds apart (all within SYNC_TIMEOUT), newest last: mixed outcomes and triggers."""
    base = utcnow() - dt.timedelta(minutes=3)
    ids = []
    for i in range(12):
        sync_id = f"sync-{i:02d}"
        ids.append(sync_id)
        sync = seed.sync(sync_id, base + dt.timedelta(seconds=10 * i))
        await sync.requested([FB], trigger=Trigger.API if i % 3 == 0 else Trigger.SCHEDULE)
        if i % 2 == 0:
            await sync.fetch(FB, COMPLETED, 1, count=0)  # completed
        elif i % 4 == 1:
            await sync.fetch(FB, FAILED, 1, error="boom")  # failed
        # else: requested only, still pending -> running
    return ids


async def _all(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    items, next_url = [], url
    while next_url:
        body = (await client.get(next_url)).json()
        items.extend(body["items"])
        next_url = body["next"]
    return items


async def test_history_is_newest_first_and_pages_without_gaps(
    client: httpx.AsyncClient, history: list[str]
) -> None:
    first = (await client.get("/api/syncs?limit=5")).json()
    assert [s["sync_id"] for s in first["items"]] == history[::-1][:5]
    items = await _all(client, "/api/syncs?limit=5")
    assert [s["sync_id"] for s in items] == history[::-1]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=completed", [i for i in range(12) if i % 2 == 0]),
        ("status=failed", [i for i in range(12) if i % 4 == 1]),
        ("status=running", [i for i in range(12) if i % 4 == 3]),
        ("trigger=api", [i for i in range(12) if i % 3 == 0]),
        ("status=completed&trigger=schedule", [i for i in range(12) if i % 2 == 0 and i % 3 != 0]),
        ("status=partial", []),
    ],
)
async def test_history_filters_by_derived_status_and_trigger(
    client: httpx.AsyncClient, history: list[str], query: str, expected: list[int]
) -> None:
    items = await _all(client, f"/api/syncs?{query}&limit=2")
    assert [s["sync_id"] for s in items] == [history[i] for i in reversed(expected)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("trigger=cron", "trigger"),
        ("limit=101", "limit"),
        ("cursor=zzz", "cursor"),
    ],
)
async def test_bad_history_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"/api/syncs?{query}")
    assert response.status_code == 422
    assert [e["loc"][:2] for e in response.json()["detail"]] == [["query", field]]


async def test_a_load_row_with_a_malformed_payload_does_not_break_the_status(
    client: httpx.AsyncClient, seed: Any
) -> None:
    sync = seed.sync("sched-odd", recently())
    await sync.requested([FB])
    await sync.fetch(FB, COMPLETED, 1, count=1)
    await seed.event(
        "sched-odd", EventType.LOAD, channel=FB, occurred_at=sync.at(2), payload={"inserted": "x"}
    )
    await sync.load(FB, 3, inserted=1)
    body = await status_of(client, "sched-odd")
    assert body["status"] == "completed" and body["counts"]["inserted"] == 1


async def test_a_backfill_shows_progress_by_day_and_channel_from_its_event_rows(
    client: httpx.AsyncClient, seed: Any
) -> None:
    sync = seed.sync("api-backfill", recently(2))
    nov1, nov30 = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
    await sync.requested([FB, TT], trigger=Trigger.API, date_from=nov1, date_to=nov30)
    for channel in (FB, TT):
        await sync.fetch(channel, STARTED, 1, date_from=nov1, date_to=nov30)
    await sync.fetch(FB, SyncEventType.FETCH_PROGRESS, 2, through=dt.date(2026, 11, 10), rows=300)
    await sync.fetch(FB, SyncEventType.FETCH_PROGRESS, 3, through=dt.date(2026, 11, 20), rows=600)
    await sync.load(FB, 4, inserted=10, rows=280, restated=3)
    await sync.load(FB, 5, updated=10, rows=320, restated=1)
    await sync.fetch(TT, SyncEventType.FETCH_PROGRESS, 2, through=nov30, rows=90)
    await sync.fetch(TT, COMPLETED, 3, count=3, rows=90)
    await sync.load(TT, 4, inserted=3, rows=90)

    body = await status_of(client, "api-backfill")
    assert (body["status"], body["date_from"], body["date_to"]) == ("running", "2026-11-01", "2026-11-30")
    fb, tt = body["channels"]
    progress = ("status", "date_from", "date_to", "through", "rows_fetched", "rows_loaded", "restated")
    assert {k: fb[k] for k in progress} == {
        "status": "fetching", "date_from": "2026-11-01", "date_to": "2026-11-30", "through": "2026-11-20",
        "rows_fetched": 600, "rows_loaded": 600, "restated": 4,
    }  # fmt: skip
    assert {k: tt[k] for k in progress} == {
        "status": "completed", "date_from": "2026-11-01", "date_to": "2026-11-30", "through": "2026-11-30",
        "rows_fetched": 90, "rows_loaded": 90, "restated": 0,
    }  # fmt: skip
    counts = body["counts"]
    assert (counts["rows_fetched"], counts["rows_loaded"], counts["restated"]) == (690, 690, 4)
    # The list shows the same, from the same aggregate.
    listed = (await client.get("/api/syncs")).json()["items"]
    assert [item["channels"] for item in listed if item["sync_id"] == "api-backfill"] == [body["channels"]]
