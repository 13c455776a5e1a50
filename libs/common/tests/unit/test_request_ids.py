"""X-Request-ID on every response: a sane incoming one kept, anything else replaced, in every log line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from demetra_common.logging import current_request_id
from demetra_common.ops import REQUEST_ID_HEADER, add_request_ids

LogLines = Callable[[], list[dict[str, Any]]]  # the json_log fixture (conftest.py)

seen: list[str | None] = []


def app() -> FastAPI:
    application = FastAPI()

    @application.get("/work")
    async def work() -> dict[str, str]:
        seen.append(current_request_id())
        logging.getLogger("demetra.test").info("working")
        return {"ok": "yes"}

    @application.get("/missing")
    async def missing() -> None:
        raise HTTPException(404, "no such thing")

    add_request_ids(application)
    return application


async def get(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.get(path, headers=headers)


@pytest.mark.parametrize("incoming", ["abc-123", "3f2a9c0e6b1d4e5f8a7b6c5d4e3f2a1b", "lb:01J8Z.42"])
async def test_a_sane_incoming_request_id_is_kept_and_answered(incoming: str) -> None:
    seen.clear()
    response = await get("/work", {REQUEST_ID_HEADER: incoming})
    assert response.headers[REQUEST_ID_HEADER] == incoming
    assert seen == [incoming]


@pytest.mark.parametrize("incoming", ["", "a b", "x" * 200, "id;drop", "-leading-dash", "{json}"])
async def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one(incoming: str) -> None:
    seen.clear()
    response = await get("/work", {REQUEST_ID_HEADER: incoming} if incoming else None)
    answered = response.headers[REQUEST_ID_HEADER]
    assert answered != incoming and len(answered) == 32 and int(answered, 16) >= 0
    assert seen == [answered]


async def test_error_responses_carry_the_request_id_too() -> None:
    response = await get("/missing", {REQUEST_ID_HEADER: "err-1"})
    assert response.status_code == 404
    assert response.headers[REQUEST_ID_HEADER] == "err-1"


async def test_every_log_line_of_the_request_names_it(json_log: LogLines) -> None:
    await get("/work", {REQUEST_ID_HEADER: "log-1"})
    ours = [line for line in json_log() if line["logger"] == "demetra.test"]
    assert ours and all(line["request_id"] == "log-1" for line in ours)
