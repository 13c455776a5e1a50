"""HTTP for browsers and caches on the read routes: ETag and If-None-Match -> 304, a new ETag once the data
changed, Cache-Control on every read route, brotli/gzip for large bodies only."""

from __future__ import annotations

import datetime as dt
import gzip
from typing import Any

import asyncpg
import brotli
import httpx
import pytest

from demetra_common.contracts import Channel, SyncEventType
from demetra_query_api.http import COMPRESS_MIN_BYTES, Freshness

DAY = dt.date(2026, 11, 20)
SYNC = "api-http-caching"

# One URL per read route (path template -> URL answering 200 over the seeded rows).
READS = {
    "/api/campaigns": "/api/campaigns?channel=facebook&limit=5",
    "/api/campaigns/{campaign_id}": "/api/campaigns/fb_000001",
    "/api/campaigns/{campaign_id}/history": f"/api/campaigns/fb_000001/history?date_from={DAY}&date_to={DAY}",
    "/api/metrics/summary": f"/api/metrics/summary?date_from={DAY}&date_to={DAY}",
    "/api/metrics/timeseries": f"/api/metrics/timeseries?date_from={DAY}&date_to={DAY}",
    "/api/restatements": "/api/restatements",
    "/api/insights": "/api/insights",
    "/api/insights/{insight_id}": "/api/insights/{insight_id}",
    "/api/syncs": "/api/syncs",
    "/api/syncs/{sync_id}": f"/api/syncs/{SYNC}",
}
LIVE = {"/api/syncs", "/api/syncs/{sync_id}"}


@pytest.fixture
async def seeded(seed: Any) -> dict[str, str]:
    await seed.campaigns([seed.row(f"fb_{i:06d}", name=f"Campaign {i}") for i in range(1, 61)])
    await seed.days([seed.day("fb_000001", DAY)])
    await seed.restatements([seed.restatement("fb_000001", DAY)])
    insight = seed.insight("fb_000001", DAY)
    await seed.insights([insight])
    sync = seed.sync(SYNC)
    await sync.requested([Channel.FACEBOOK])
    await sync.fetch(Channel.FACEBOOK, SyncEventType.FETCH_STARTED, 1)
    await seed.refreshed_summary()
    return {"insight_id": str(insight.id)}


async def test_a_matching_if_none_match_is_a_304_and_a_change_a_new_etag(
    client: httpx.AsyncClient, seeded: dict[str, str], db: asyncpg.Connection
) -> None:
    url = "/api/campaigns/fb_000001"
    first = await client.get(url)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and etag.endswith('"')

    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == Freshness.LOADED
    # a list of tags, the strong form of the same tag, and * all match (weak comparison)
    for header in (f'"other", {etag}', etag.removeprefix("W/"), "*"):
        assert (await client.get(url, headers={"If-None-Match": header})).status_code == 304
    assert (await client.get(url, headers={"If-None-Match": 'W/"other"'})).status_code == 200

    await db.execute("UPDATE campaigns SET clicks = clicks + 1 WHERE campaign_id = 'fb_000001'")
    changed = await client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["clicks"] == first.json()["clicks"] + 1
    assert changed.headers["etag"] != etag
    assert (await client.get(url, headers={"If-None-Match": changed.headers["etag"]})).status_code == 304


async def test_every_read_route_declares_its_cache_control(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    reads = {
        path for path, operations in paths.items()
        if "get" in operations and path.startswith("/api/") and not path.startswith("/api/test/")
    }  # fmt: skip
    assert reads == set(READS), "a new read route needs a URL here (and a Freshness in its cached_read)"
    for path, url in READS.items():
        response = await client.get(url.format(**seeded))
        assert response.status_code == 200, (url, response.text)
        expected = Freshness.LIVE if path in LIVE else Freshness.LOADED
        assert response.headers["cache-control"] == expected, url
        assert response.headers["etag"], url


async def test_large_bodies_are_compressed_when_asked_and_small_ones_not(
    client: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    large = "/api/campaigns?channel=facebook&limit=50"
    plain = await client.get(large, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and len(plain.content) >= COMPRESS_MIN_BYTES

    for encoding, decode in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        # httpx would decode the body itself: read the raw bytes to see what travelled.
        async with client.stream("GET", large, headers={"Accept-Encoding": encoding}) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        assert response.headers["content-encoding"] == encoding
        assert "accept-encoding" in response.headers["vary"].lower()
        assert len(raw) < len(plain.content) / 2
        assert decode(raw) == plain.content
        assert response.headers["etag"] == plain.headers["etag"]  # weak: the same for every encoding

    small = await client.get("/api/campaigns/fb_000001", headers={"Accept-Encoding": "gzip, br"})
    assert len(small.content) < COMPRESS_MIN_BYTES and "content-encoding" not in small.headers
