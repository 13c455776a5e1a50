"""The console is served by the API (no database needed): the page, its code and the npm assets with a
strict Content-Security-Policy, and browsers sent from / to it while API clients keep the JSON."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from demetra_query_api.app import create_app
from demetra_query_api.settings import QueryApiSettings


def _client(vendor: Path) -> httpx.AsyncClient:
    settings = QueryApiSettings(
        _env_file=None,
        environment="test",
        api_key="test",
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
        kafka_bootstrap_servers="127.0.0.1:1",
        console_vendor_dir=vendor,
    )
    app = create_app(settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def client(tmp_path: Path) -> httpx.AsyncClient:
    vendor = tmp_path / "node_modules"
    (vendor / "chart.js" / "dist").mkdir(parents=True)
    (vendor / "chart.js" / "dist" / "chart.umd.min.js").write_text("window.Chart = function () {};")
    return _client(vendor)


async def test_a_browser_at_the_root_is_sent_to_the_console(client: httpx.AsyncClient) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    response = await client.get("/", headers=browser)
    assert (response.status_code, response.headers["location"]) == (307, "/console/")


@pytest.mark.parametrize("accept", ["application/json", "*/*", "application/json, text/html"])
async def test_an_api_client_at_the_root_gets_the_service_description(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await client.get("/", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.json()["links"]["console"] == "/console/"


async def test_the_page_its_code_and_the_vendored_chart_library_are_served(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/console/static/app.js", "/console/vendor/chart.js/dist/chart.umd.min.js"):
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert "javascript" in response.headers["content-type"]
        assert "content-security-policy" in response.headers
    assert (await client.get("/console")).headers["location"] == "/console/"
    assert (await client.get("/console/static/nothing.js")).status_code == 404


async def test_without_the_npm_assets_the_chart_library_is_a_404_that_says_how_to_install_them(
    tmp_path: Path,
) -> None:
    async with _client(tmp_path / "never-installed") as client:
        response = await client.get("/console/vendor/chart.js/dist/chart.umd.min.js")
        assert response.status_code == 404
        assert "make install" in response.text
        assert (await client.get("/console/")).status_code == 200  # the page itself still loads


def test_every_script_the_page_loads_is_local() -> None:
    page = (Path(__file__).parents[2] / "src/demetra_query_api/console/static/index.html").read_text()
    assert "http://" not in page and "https://" not in page
