"""How uvicorn speaks HTTP for the API: its httptools protocol, a response's head and body in one write.

uvicorn writes a response's status line and headers as soon as the app sends ``http.response.start``, then
its body when the app sends it, and uvloop's transport puts each write on the socket at once: two
syscalls, two TCP segments and two wake-ups of the client per response, where one carries both (the
headers are ~300 bytes). ``HttpProtocol`` hands uvicorn a transport that holds a write until the next one,
which takes it along (one ``writelines``, one ``writev``), or until the end of the event-loop step when no
other comes (a HEAD's headers): the app sends both messages without waiting in between, so the head waits
for nothing but the body.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeldWrites(asyncio.Transport):
    """``transport`` whose every write is held until the next write, which takes it along in one
    ``writelines``, or until the end of the event-loop step it was made in (or until the transport closes
    or ends its output), so what is written in a row reaches the socket together, in order. Everything else
    is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview[Any]) -> None:
        if self._held is not None:  # this write takes the held one along (uvicorn's body: even an empty one)
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.writelines([held, data] if data else [held])
        elif data:
            self._held = data if type(data) is bytes else bytes(data)  # held: no later mutation
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the held write now, if any (nothing if the transport is closing: it could not be sent)."""
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def get_write_buffer_size(self) -> int:
        return len(self._held or b"") + self._transport.get_write_buffer_size()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
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
    """uvicorn's httptools protocol (``Config(http=HttpProtocol)``) over ``HeldWrites`` of its transport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldWrites(transport, self.loop))
