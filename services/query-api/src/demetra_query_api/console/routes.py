"""Serving the console (docs/architecture.md, "Console").

The console is static: ``static/`` holds its page, script and style (committed, no build step), and the
chart library is vendored from npm with a lockfile (``services/query-api/console/package-lock.json``,
installed by ``make install``) and served from ``CONSOLE_VENDOR_DIR``. Nothing is loaded from a CDN, and
the page reads only the public API (same origin), so it works air-gapped and behind strict proxies.

Browsers asking for ``/`` (``Accept: text/html``) are redirected to ``/console/``; API clients still get
the JSON service description.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
CONSOLE_PACKAGE = "services/query-api/console"  # its package.json and lockfile
PREFIX = "/console"

# The page runs only its own scripts and talks only to this origin: no inline script, no CDN, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def wants_html(request: Request) -> bool:
    """A browser navigating here (its Accept names text/html before any JSON), not an API client."""
    accept = request.headers.get("accept", "")
    html = accept.find("text/html")
    json = accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def redirect_to_console() -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


# What a request for a vendored asset gets when the npm assets were never installed.
VENDOR_MISSING = "the console's npm assets are not installed: run `make install` (npm ci in {directory})"


class _SecureStatic(StaticFiles):
    async def get_response(self, path: str, scope: MutableMapping[str, Any]) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-cache")  # revalidated by ETag/Last-Modified
        return response


class _VendorStatic(_SecureStatic):
    """The npm assets. A directory never installed answers 404 saying how to install it, where Starlette's
    StaticFiles would raise on every request (a 500)."""

    missing = False

    async def check_config(self) -> None:
        try:
            await super().check_config()
        except RuntimeError:
            self.missing = True

    async def get_response(self, path: str, scope: MutableMapping[str, Any]) -> Response:
        if self.missing:
            detail = VENDOR_MISSING.format(directory=CONSOLE_PACKAGE)
            return PlainTextResponse(detail, status_code=404, headers=SECURITY_HEADERS)
        return await super().get_response(path, scope)


def mount_console(app: FastAPI, vendor_dir: Path) -> None:
    """``/console/`` (the page), ``/console/static/*`` (its code) and ``/console/vendor/*`` (npm assets)."""

    @app.get(PREFIX, include_in_schema=False)
    async def console_no_slash() -> Response:
        return redirect_to_console()

    @app.get(f"{PREFIX}/", include_in_schema=False)
    async def console_page() -> Response:
        return FileResponse(STATIC / "index.html", headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    if not vendor_dir.is_dir():
        logger.warning(
            VENDOR_MISSING.format(directory=CONSOLE_PACKAGE) + " (CONSOLE_VENDOR_DIR=%s)", vendor_dir
        )
    app.mount(f"{PREFIX}/static", _SecureStatic(directory=STATIC), name="console-static")
    app.mount(f"{PREFIX}/vendor", _VendorStatic(directory=vendor_dir, check_dir=False), name="console-vendor")
