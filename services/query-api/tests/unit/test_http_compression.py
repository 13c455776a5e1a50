"""The compression middleware keeps a streamed body streaming: each chunk is sent compressed and flushed as
it comes (a client can decode it before the next one), and server-sent events stay readable."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import Any

import brotli
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from demetra_query_api.http import install_compression

CHUNKS = [f"row {n}," * 300 + "\n" for n in range(3)]


def _streaming_app(media_type: str) -> FastAPI:
    app = FastAPI()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def rows() -> AsyncIterator[str]:
            for chunk in CHUNKS:
                yield chunk

        return StreamingResponse(rows(), media_type=media_type)

    install_compression(app)
    return app


async def _messages(app: FastAPI, accept_encoding: bytes) -> list[dict[str, Any]]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/stream", "raw_path": b"/stream", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"api"), (b"accept-encoding", accept_encoding)], "client": ("127.0.0.1", 1),
        "server": ("api", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    requested, finished = False, asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays until the whole body came
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    await app(scope, receive, send)
    return sent


async def test_a_streamed_body_is_compressed_chunk_by_chunk() -> None:
    for encoding in (b"br", b"gzip"):
        start, *bodies = await _messages(_streaming_app("text/csv"), encoding)
        headers = dict(start["headers"])
        assert headers[b"content-encoding"] == encoding and b"content-length" not in headers
        decode: Any = (
            brotli.Decompressor().process
            if encoding == b"br"
            else zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
        )
        decoded = [decode(body["body"]) for body in bodies if body["body"]]
        # at least the first chunk decodes on its own, before the rest was produced
        assert decoded[0].decode().startswith(CHUNKS[0][:50])
        assert b"".join(decoded).decode() == "".join(CHUNKS)
