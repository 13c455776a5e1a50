"""How uvicorn speaks HTTP for the API: its httptools protocol, each event-loop step's writes sent together.

uvicorn writes a response's status line and headers as soon as the app sends ``http.response.start``, then
its body when the app sends it, and uvloop's transport puts each write on the socket at once: two
syscalls, two TCP segments and two wake-ups of the client per response, where one carries both (the
headers are ~300 bytes). ``HttpProtocol`` hands uvicorn a transport that gathers the writes made during one
step of the event loop (the app sends both messages without waiting in between) and writes them at the end
of the step in one ``writelines`` (one ``writev``), or at once when they reach ``FLUSH_BYTES``, so a
streamed body still goes out chunk by chunk under uvicorn's flow control.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Gathered bytes written at once, without waiting for the end of the step: the transport's high-water mark,
# past which it would pause the protocol anyway.
FLUSH_BYTES = HIGH_WATER_LIMIT


class StepWrites(asyncio.Transport):
    """``transport`` whose writes of one event-loop step reach the socket together, in order, at the end of
    the step (or as soon as they reach ``FLUSH_BYTES``, or before the transport closes or ends its output).
    Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data) if type(data) is not bytes else data)  # held: no later mutation
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what was gathered (nothing if the transport is closing: it could not be sent anyway)."""
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not self._transport.is_closing():
            self._transport.writelines(pending)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def get_write_buffer_size(self) -> int:
        return self._pending_bytes + self._transport.get_write_buffer_size()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._pending_bytes = [], 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (``Config(http=HttpProtocol)``) over ``StepWrites`` of its transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(StepWrites(transport, self.loop))
