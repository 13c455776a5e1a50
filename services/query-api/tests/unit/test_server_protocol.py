"""The API's HTTP protocol: a response's head and body reach the socket in one write, a streamed body still
goes out as it comes, and HTTP/1.1 behaves as uvicorn's own (keep-alive, HEAD, 304, closing)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from demetra_query_api.server import HeldWrites, HttpProtocol
from demetra_testkit import eventually

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 21\r\n\r\n"
BODY = b'{"points": [1, 2, 3]}'
CHUNK = 100_000  # a streamed chunk, larger than the transport's high-water mark


class RecordingTransport(asyncio.Transport):
    """What reaches the socket: one entry per write or writelines call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.calls.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0


async def _next_step() -> None:
    await asyncio.sleep(0)


def _held(real: RecordingTransport) -> HeldWrites:
    return HeldWrites(real, asyncio.get_running_loop())


async def test_a_head_goes_out_with_the_body_that_follows_it() -> None:
    real = RecordingTransport()
    transport = _held(real)
    transport.write(HEAD)
    assert real.calls == [] and transport.get_write_buffer_size() == len(HEAD)
    transport.write(BODY)
    assert real.calls == [HEAD + BODY]  # at once, not at the end of the step
    await _next_step()
    assert real.calls == [HEAD + BODY]


async def test_an_empty_body_takes_the_head_along() -> None:  # uvicorn's body write of a 304
    real = RecordingTransport()
    transport = _held(real)
    transport.write(HEAD)
    transport.write(b"")
    assert real.calls == [HEAD]


async def test_a_write_alone_goes_out_at_the_end_of_its_step() -> None:  # a HEAD's headers
    real = RecordingTransport()
    transport = _held(real)
    transport.write(HEAD)
    await _next_step()
    assert real.calls == [HEAD]
    transport.write(b"next")
    await _next_step()
    assert real.calls == [HEAD, b"next"]


async def test_a_held_buffer_is_copied_so_the_caller_may_reuse_it() -> None:
    real = RecordingTransport()
    transport = _held(real)
    buffer = bytearray(b"first")
    transport.write(buffer)
    buffer[:] = b"later"
    await _next_step()
    assert real.calls == [b"first"]


async def test_closing_writes_what_was_held_first() -> None:
    real = RecordingTransport()
    transport = _held(real)
    transport.write(b"goodbye")
    transport.close()
    assert real.calls == [b"goodbye"] and real.closed
    await _next_step()
    assert real.calls == [b"goodbye"]


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/body", methods=["GET", "HEAD"])
    async def body(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(status_code=304, headers={"ETag": '"v1"'})
        return Response(BODY, media_type="application/json", headers={"ETag": '"v1"'})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(3):
                yield bytes([65 + n]) * (CHUNK)

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


@pytest.fixture
async def server() -> AsyncIterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app(), http=HttpProtocol, log_config=None, lifespan="off")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve(sockets=[listener]))
    try:

        async def started() -> bool:
            return served.started

        await eventually(started, timeout=10, interval=0.01, what="the server started")
        yield listener.getsockname()[1]
    finally:
        served.should_exit = True
        await asyncio.wait_for(task, 10)


async def _exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` (its last request asks to close); everything received until the server closes, within a
    deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        received = b""
        async with asyncio.timeout(10):
            while chunk := await reader.read(1 << 20):
                received += chunk
        return received
    finally:
        writer.close()


async def test_keep_alive_head_and_not_modified_are_answered_as_uvicorn_does(server: int) -> None:
    get = b"GET /body HTTP/1.1\r\nHost: api\r\n\r\n"
    head = b"HEAD /body HTTP/1.1\r\nHost: api\r\n\r\n"
    conditional = b'GET /body HTTP/1.1\r\nHost: api\r\nIf-None-Match: "v1"\r\n\r\n'
    last = b"GET /body HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
    received = await _exchange(server, get + head + conditional + last)
    responses = received.split(b"HTTP/1.1 ")[1:]
    assert [r.split(b"\r\n", 1)[0] for r in responses] == [
        b"200 OK",
        b"200 OK",
        b"304 Not Modified",
        b"200 OK",
    ]
    assert responses[0].endswith(b"\r\n\r\n" + BODY) and responses[3].endswith(b"\r\n\r\n" + BODY)
    assert responses[1].endswith(b"\r\n\r\n")  # HEAD: headers only
    assert b"connection: close" in responses[3]


async def test_a_streamed_body_arrives_whole_in_order(server: int) -> None:
    request = b"GET /stream HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
    received = await _exchange(server, request)
    head, _, chunked = received.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    body = b""
    while chunked:
        size_line, _, rest = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body, chunked = body + rest[:size], rest[size + 2 :]
    assert body == b"".join(bytes([65 + n]) * (CHUNK) for n in range(3))
