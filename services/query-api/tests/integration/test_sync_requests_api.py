"""POST /api/syncs and /api/test/sync-now against the real broker; API key, rate limit, CORS, outages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from demetra_common.contracts import ALL_CHANNELS, Channel, SyncEventType, SyncRequested, Trigger, utcnow
from demetra_common.topics import Topics
from demetra_query_api.settings import QueryApiSettings
from demetra_testkit import read_topic

API_KEY = "test-key-for-the-query-api"
AUTH = {"X-API-Key": API_KEY}


async def test_a_sync_request_is_published_keyed_by_its_id_and_answered_202(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics
) -> None:
    response = await client.post("/api/syncs", json={"channels": ["tiktok", "facebook"]}, headers=AUTH)
    assert response.status_code == 202, response.text
    body = response.json()
    sync_id = body["sync_id"]
    assert sync_id.startswith("api-")
    assert response.headers["location"] == f"/api/syncs/{sync_id}" == body["status_url"]
    assert body["trigger"] == "api" and body["channels"] == ["tiktok", "facebook"]

    [record] = await read_topic(kafka_bootstrap, topics.sync_requested, count=1, idle_after=1.0)
    assert record.key == sync_id.encode()
    message = SyncRequested.model_validate(orjson.loads(record.value))
    assert (message.sync_id, message.trigger, [c.value for c in message.channels]) == (
        sync_id,
        Trigger.API,
        ["tiktok", "facebook"],
    )


@pytest.mark.parametrize("body", [None, {}, {"channels": None}])
async def test_without_channels_every_channel_is_requested(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics, body: Any
) -> None:
    response = await client.post("/api/syncs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    [record] = await read_topic(kafka_bootstrap, topics.sync_requested, count=1)
    assert SyncRequested.model_validate(orjson.loads(record.value)).channels == list(ALL_CHANNELS)


async def test_sync_now_is_the_same_as_posting_a_sync(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics
) -> None:
    response = await client.post("/api/test/sync-now", headers=AUTH)
    assert response.status_code == 202
    [record] = await read_topic(kafka_bootstrap, topics.sync_requested, count=1)
    assert record.key == response.json()["sync_id"].encode()


@pytest.mark.parametrize(
    ("headers", "detail"),
    [({}, "missing API key: send it in the X-API-Key header"), ({"X-API-Key": "guess"}, "invalid API key")],
)
@pytest.mark.parametrize("path", ["/api/syncs", "/api/test/sync-now"])
async def test_writes_without_the_right_key_are_401_and_publish_nothing(
    client: httpx.AsyncClient,
    kafka_bootstrap: str,
    topics: Topics,
    headers: dict[str, str],
    detail: str,
    path: str,
) -> None:
    response = await client.post(path, json={"channels": ["facebook"]}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == "ApiKey"
    assert await read_topic(kafka_bootstrap, topics.sync_requested, count=0, idle_after=1.0) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"channels": ["myspace"]}, ["body", "channels", 0]),
        ({"channels": []}, ["body", "channels"]),
        ({"channels": ["facebook", "facebook"]}, ["body", "channels"]),
        ({"channel": ["facebook"]}, ["body", "channel"]),
        ({"channels": "facebook"}, ["body", "channels"]),
    ],
)
async def test_a_bad_body_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: Any, loc: list[Any]
) -> None:
    response = await client.post("/api/syncs", json=body, headers=AUTH)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [loc]


async def test_a_backfill_names_its_days_in_the_published_request(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics
) -> None:
    today = utcnow().date()
    first = today - dt.timedelta(days=399)  # 400 days through today: BACKFILL_MAX_DAYS by default
    body = {"channels": ["google_ads"], "date_from": str(first), "date_to": str(today)}
    response = await client.post("/api/syncs", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert (response.json()["date_from"], response.json()["date_to"]) == (str(first), str(today))
    [record] = await read_topic(kafka_bootstrap, topics.sync_requested, count=1)
    message = SyncRequested.model_validate(orjson.loads(record.value))
    assert (message.date_from, message.date_to, message.backfill_days()) == (first, today, 400)
    assert message.sync_id == response.json()["sync_id"]


async def test_a_sync_without_days_publishes_none(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics
) -> None:
    response = await client.post("/api/syncs", json={"channels": ["tiktok"]}, headers=AUTH)
    assert (response.json()["date_from"], response.json()["date_to"]) == (None, None)
    [record] = await read_topic(kafka_bootstrap, topics.sync_requested, count=1)
    assert SyncRequested.model_validate(orjson.loads(record.value)).backfill_days() is None


def _days_ago(days: int) -> str:
    return str(utcnow().date() - dt.timedelta(days=days))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date_from": "2026-11-01"}, "date_to"),
        ({"date_to": "2026-11-01"}, "date_from"),
        ({"date_from": "2026-11-02", "date_to": "2026-11-01"}, "date_to"),
        ({"date_from": 30, "date_to": -1}, "date_to"),  # tomorrow
        ({"date_from": 400, "date_to": 0}, "date_from"),  # 401 days
        ({"date_from": "1999-12-31", "date_to": "2000-01-10"}, "date_from"),
        ({"date_from": "2026-11-01", "date_to": "next week"}, "date_to"),
    ],
)
@pytest.mark.parametrize("path", ["/api/syncs", "/api/test/sync-now"])
async def test_a_bad_backfill_range_is_a_422_naming_the_field_and_publishes_nothing(
    client: httpx.AsyncClient,
    kafka_bootstrap: str,
    topics: Topics,
    body: dict[str, str | int],
    field: str,
    path: str,
) -> None:
    # A number is days ago, counted when the test runs (not when it is collected, maybe before midnight).
    sent = {key: _days_ago(value) if isinstance(value, int) else value for key, value in body.items()}
    response = await client.post(path, json=sent, headers=AUTH)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert await read_topic(kafka_bootstrap, topics.sync_requested, count=0, idle_after=1.0) == []


async def test_the_longest_backfill_follows_the_setting(
    app_factory: Callable[[QueryApiSettings], Any], settings_factory: Callable[..., QueryApiSettings]
) -> None:
    async with await app_factory(settings_factory(backfill_max_days=7)) as client:
        week = {"date_from": _days_ago(6), "date_to": _days_ago(0)}
        assert (await client.post("/api/syncs", json=week, headers=AUTH)).status_code == 202
        longer = {"date_from": _days_ago(7), "date_to": _days_ago(0)}
        refused = await client.post("/api/syncs", json=longer, headers=AUTH)
        assert refused.status_code == 422
        assert "at most 7 (BACKFILL_MAX_DAYS)" in refused.json()["detail"][0]["msg"]


async def test_the_schema_documents_the_backfill_fields(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["SyncCreate"]
    assert schema["dependentRequired"] == {"date_from": ["date_to"], "date_to": ["date_from"]}
    date_from = schema["properties"]["date_from"]["anyOf"][0]
    day = re.compile(date_from["pattern"]).fullmatch
    assert date_from["format"] == "date" and day("2000-01-01") and not day("1999-12-31") and not day("0")
    # A day with a null partner is neither both nor neither.
    assert {"properties": {"date_from": {"type": "null"}, "date_to": {"type": "null"}}} in schema["anyOf"]


async def test_malformed_json_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/syncs", content=b"{not json", headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_sync_creation_is_rate_limited_with_retry_after(
    app_factory: Callable[[QueryApiSettings], Any], settings_factory: Callable[..., QueryApiSettings]
) -> None:
    async with await app_factory(settings_factory(sync_rate_limit="2/minute")) as client:
        assert (await client.post("/api/syncs", headers=AUTH)).status_code == 202
        assert (await client.post("/api/test/sync-now", headers=AUTH)).status_code == 202
        refused = await client.post("/api/syncs", headers=AUTH)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "rate limit exceeded (2 per 1 minute)" in refused.json()["detail"]
        # Reads are not limited, and a request refused for its key does not use up the allowance.
        assert (await client.get("/api/syncs")).status_code == 200
        assert (await client.post("/api/syncs")).status_code == 401


async def test_kafka_down_answers_503_for_writes_while_reads_keep_working(
    app_factory: Callable[[QueryApiSettings], Any], settings_factory: Callable[..., QueryApiSettings]
) -> None:
    settings = settings_factory(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=2)
    async with await app_factory(settings) as client:
        response = await client.post("/api/syncs", headers=AUTH)
        assert response.status_code == 503
        assert "could not publish" in response.json()["detail"]
        assert (await client.get("/api/campaigns")).status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"] == {
            "database": "ok",
            "kafka": "unavailable",
        }


async def test_database_down_answers_503_not_500(
    app_factory: Callable[[QueryApiSettings], Any], settings_factory: Callable[..., QueryApiSettings]
) -> None:
    settings = settings_factory(database_url="postgresql+asyncpg://demetra:demetra@127.0.0.1:1/demetra")
    async with await app_factory(settings) as client:
        for path in ("/api/campaigns", "/api/campaigns/fb_1", "/api/metrics/summary", "/api/syncs"):
            response = await client.get(path)
            assert response.status_code == 503, path
            assert response.headers["retry-after"] == "5"
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).json()["checks"]["database"] == "unavailable"


async def test_ready_and_root_describe_the_service(client: httpx.AsyncClient) -> None:
    ready = await client.get("/ready")
    assert ready.status_code == 200 and ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "kafka": "ok"},
    }
    root = (await client.get("/")).json()
    assert root["name"] == "demetra-query-api" and root["links"]["docs"] == "/docs"
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert (await client.get(path)).status_code == 200


async def test_cors_allows_the_configured_origin_only(client: httpx.AsyncClient) -> None:
    allowed = "https://dashboard.example.com"
    preflight = await client.options(
        "/api/syncs",
        headers={
            "Origin": allowed,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == allowed
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()

    simple = await client.get("/api/campaigns", headers={"Origin": allowed})
    assert simple.headers["access-control-allow-origin"] == allowed

    other = await client.get("/api/campaigns", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers


async def test_a_wildcard_origin_never_allows_credentials(
    app_factory: Callable[[QueryApiSettings], Any], settings_factory: Callable[..., QueryApiSettings]
) -> None:
    async with await app_factory(settings_factory(cors_origins=["*"])) as client:
        response = await client.get("/api/campaigns", headers={"Origin": "https://anywhere.example.com"})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def test_retry_republishes_the_first_request_naming_only_the_failed_channels(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics, seed: Any
) -> None:
    sync = seed.sync("sched-retry-1", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    slot = sync.at(0)
    original = await sync.requested([Channel.FACEBOOK, Channel.TIKTOK], slot=slot)
    for channel in (Channel.FACEBOOK, Channel.TIKTOK):
        await sync.fetch(channel, SyncEventType.FETCH_STARTED, 1, attempt=f"{channel.value}-1")
    await sync.fetch(Channel.FACEBOOK, SyncEventType.FETCH_COMPLETED, 2, count=0, attempt="facebook-1")
    await sync.fetch(Channel.TIKTOK, SyncEventType.FETCH_FAILED, 2, error="boom", attempt="tiktok-1")

    response = await client.post("/api/syncs/sched-retry-1/retry", headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == "/api/syncs/sched-retry-1"
    assert (response.json()["sync_id"], response.json()["channels"]) == ("sched-retry-1", ["tiktok"])
    [record] = await read_topic(kafka_bootstrap, topics.sync_requested, count=1, idle_after=1.0)
    retry = SyncRequested.model_validate(orjson.loads(record.value))
    assert record.key == b"sched-retry-1"
    assert (retry.sync_id, retry.channels, retry.trigger) == ("sched-retry-1", [Channel.TIKTOK], Trigger.API)
    assert (retry.slot, retry.requested_at, retry.as_of()) == (slot, original.requested_at, original.as_of())
    assert retry.event_id != original.event_id


async def test_retry_is_409_when_nothing_failed_404_when_unknown_401_without_the_key(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics, seed: Any
) -> None:
    sync = seed.sync("api-done-1", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    await sync.requested([Channel.FACEBOOK], trigger=Trigger.API)
    await sync.fetch(Channel.FACEBOOK, SyncEventType.FETCH_STARTED, 1)
    await sync.fetch(Channel.FACEBOOK, SyncEventType.FETCH_COMPLETED, 2, count=0)

    conflict = await client.post("/api/syncs/api-done-1/retry", headers=AUTH)
    assert conflict.status_code == 409 and "facebook completed" in conflict.json()["detail"], conflict.text
    assert (await client.post("/api/syncs/api-never-1/retry", headers=AUTH)).status_code == 404
    assert (await client.post("/api/syncs/api-done-1/retry")).status_code == 401
    assert (await client.post("/api/syncs/bad id/retry", headers=AUTH)).status_code == 422
    assert await read_topic(kafka_bootstrap, topics.sync_requested, count=0, idle_after=1.0) == []
