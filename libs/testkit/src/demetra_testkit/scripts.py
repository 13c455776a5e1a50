"""For benchmark scripts: load a sibling script as a module, and call an ASGI app in process."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def load_script(path: Path, name: str) -> ModuleType:
    """The script at ``path`` imported as the module ``name`` (a benchmark's sibling, not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def in_process_api_env(database_url: str, name: str, **extra: str) -> dict[str, str]:
    """The environment of a query API that a benchmark runs in process, one request at a time: its own
    database and topic prefix (``name`` and the pid), no response cache, one connection, quiet logs; ``extra``
    adds or overrides settings."""
    return {
        "DATABASE_URL": database_url,
        "KAFKA_TOPIC_PREFIX": f"{name}-{os.getpid()}.",
        "RESPONSE_CACHE_TTL_S": "0",
        "DB_POOL_SIZE": "1",
        "DB_MAX_OVERFLOW": "0",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


async def asgi_get(app: ASGIApp, path: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> tuple[int, bytes]:
    """One GET of ``path`` (with its query) through the ASGI ``app``, as a server would call it: the status
    and the body."""
    parts = urlsplit(path)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "root_path": "",
        "query_string": parts.query.encode(),
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    status = 0
    body = bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)
