"""The query API's own pages, /docs (Swagger UI) and /redoc (ReDoc), render in a real browser with every
script and style served by the API itself (this machine has no internet)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from selenium.webdriver import Chrome

from demetra_testkit import ServiceProcess
from demetra_testkit.browser import wait_for

# Paths the endpoint list must show (the query API's own routes).
ENDPOINTS = ("/api/campaigns", "/api/syncs", "/api/metrics/summary")
# The one outside request left: ReDoc's "API docs by Redocly" logo, an <img> that hides itself when the host
# cannot be reached. It decorates the sidebar's foot; nothing of the page waits for it.
DECORATION_HOSTS = {"cdn.redoc.ly"}


@pytest.fixture
def query_api(service_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess("query-api", "demetra_query_api", service_env, log_dir=tmp_path).start()
    try:
        yield service
    finally:
        service.stop()


def _hosts_requested(driver: Chrome) -> set[str]:
    entries: list[dict[str, Any]] = driver.get_log("performance")  # type: ignore[no-untyped-call]
    messages = (json.loads(entry["message"])["message"] for entry in entries)
    return {
        urlparse(message["params"]["request"]["url"]).netloc
        for message in messages
        if message["method"] == "Network.requestWillBeSent"
        and message["params"]["request"]["url"].startswith("http")
    }


def test_swagger_ui_and_redoc_list_the_endpoints_from_assets_of_the_api_itself(
    query_api: ServiceProcess, chromium_browser: Chrome
) -> None:
    own_host = urlparse(query_api.url).netloc
    _hosts_requested(chromium_browser)  # forget earlier pages' requests

    chromium_browser.get(f"{query_api.url}/docs")
    paths = wait_for(
        chromium_browser,
        "const paths = [...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText);"
        "return paths.length ? paths : null;",
        what="Swagger UI's operations",
    )
    assert set(ENDPOINTS) <= {path.strip().replace("\u200b", "") for path in paths}

    chromium_browser.get(f"{query_api.url}/redoc")
    text = wait_for(
        chromium_browser,
        "const ops = document.querySelectorAll('[data-section-id^=\"operation/\"]');"
        "return ops.length ? document.body.innerText : null;",
        what="ReDoc's operations",
    )
    assert all(endpoint in text for endpoint in ENDPOINTS)
    assert _hosts_requested(chromium_browser) - DECORATION_HOSTS == {own_host}
