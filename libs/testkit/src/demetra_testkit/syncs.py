"""The query API's sync endpoints as a test drives them: request a sync, read its status, wait for its end;
and a request published on Kafka as anyone may.

Plain ``urllib`` in a worker thread (testkit declares no HTTP client): a handful of requests per test, each
with a timeout, so the event loop keeps serving whatever else the test awaits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from demetra_common.contracts import SyncRequested
from demetra_common.security import API_KEY_HEADER
from demetra_common.topics import Topics
from demetra_testkit import eventually

REQUEST_TIMEOUT_S = 10.0


def _call(request: urllib.request.Request) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read().decode(errors="replace")


async def sync_status(api_url: str, sync_id: str) -> dict[str, Any] | None:
    """GET /api/syncs/{sync_id}: the status, or None while the loader has recorded nothing of the sync."""
    code, _, body = await asyncio.to_thread(_call, urllib.request.Request(f"{api_url}/api/syncs/{sync_id}"))
    if code == 404:
        return None
    if code != 200:
        raise AssertionError(f"GET /api/syncs/{sync_id} answered {code}: {body}")
    return dict(body)


async def request_sync(api_url: str, api_key: str, body: dict[str, Any] | None = None) -> str:
    """POST /api/syncs with ``body`` (all channels, the lookback window, when omitted); the new sync_id.

    Asserts the 202 and that its Location names the sync."""
    request = urllib.request.Request(
        f"{api_url}/api/syncs",
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json", API_KEY_HEADER: api_key},
        method="POST",
    )
    code, headers, answer = await asyncio.to_thread(_call, request)
    assert code == 202, answer
    sync_id = str(answer["sync_id"])
    location = next(value for name, value in headers.items() if name.lower() == "location")
    assert location.endswith(sync_id), location
    return sync_id


async def finished_status(api_url: str, sync_id: str) -> dict[str, Any] | None:
    """The status once the sync is no longer running, else None (a check for ``eventually``)."""
    status = await sync_status(api_url, sync_id)
    return status if status and status["status"] != "running" else None


async def wait_finished(
    api_url: str, sync_id: str, *, timeout: float = 120.0, interval: float = 0.5
) -> dict[str, Any]:
    """Poll every ``interval`` seconds until the sync completed, partially completed or failed; its status."""
    status = await eventually(
        lambda: finished_status(api_url, sync_id),
        timeout=timeout,
        interval=interval,
        what=f"sync {sync_id} finished",
    )
    assert status is not None  # eventually returns only what is truthy
    return status


@dataclass(frozen=True, slots=True)
class TimedSync:
    sync_id: str
    seconds: float  # from the request to the status no longer running
    status: dict[str, Any]


async def timed_sync(
    api_url: str, api_key: str, body: dict[str, Any] | None = None, *, timeout: float = 240.0
) -> TimedSync:
    """A benchmark's sync: request it, poll every 50 ms until it ends, and fail unless it completed."""
    began = time.perf_counter()
    sync_id = await request_sync(api_url, api_key, body)
    status = await wait_finished(api_url, sync_id, timeout=timeout, interval=0.05)
    seconds = time.perf_counter() - began
    assert status["status"] == "completed", f"sync {sync_id} ended {status['status']}: {status}"
    return TimedSync(sync_id, seconds, status)


def sync_as_of(status: dict[str, Any]) -> dt.datetime:
    """The moment a sync's data describes, from its status: the recorded request's ``requested_at`` (a
    scheduled sync's is its slot), the as-of the ingestors fetch at, when the request carried one (a
    hand-written SyncRequested without it gets each reader's own clock)."""
    return dt.datetime.fromisoformat(status["requested_at"])


async def publish_request(
    bootstrap: str, topics: Topics, request: SyncRequested, *, published_at: dt.datetime | None = None
) -> None:
    """Publish ``request`` on sync.requested with a plain Kafka client, keyed by its sync_id (as anyone
    may); ``published_at`` sets the record's timestamp (a request published long ago)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.sync_requested,
            request.model_dump_json().encode(),
            key=request.sync_id.encode(),
            timestamp_ms=int(published_at.timestamp() * 1000) if published_at else None,
        )
    finally:
        await producer.stop()
