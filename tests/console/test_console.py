"""The console in a real browser (Debian's headless Chromium through Selenium) against the real pipeline of
conftest.py: what it shows equals what the API says, and what it does (start a sync, retry a failed channel)
happens.

Every test ends by checking the browser's console log: a page that works but logs an error fails.
Screenshots of the overview and a campaign page go to CONSOLE_SCREENSHOT_DIR when it is set (the README's
images: ``CONSOLE_SCREENSHOT_DIR=docs/images uv run pytest tests/console``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from demetra_common.contracts import ALL_CHANNELS
from demetra_testkit.browser import wait_for

from .conftest import API_KEY, Pipeline

pytestmark = pytest.mark.slow

KPIS = ("cost", "impressions", "clicks", "conversions", "revenue", "ctr", "cpc", "cpa", "roas")


@pytest.fixture
def browser(chromium_browser: Chrome) -> Iterator[Chrome]:
    """The session's Chromium on a blank page and a clean console log; fails the test on any console error
    the test's pages logged."""
    chromium_browser.get("about:blank")
    chromium_browser.get_log("browser")
    yield chromium_browser
    errors = [entry for entry in chromium_browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], f"the browser logged errors: {errors}"


def open_page(browser: Chrome, pipeline: Pipeline, route: str) -> None:
    browser.get(f"{pipeline.api.url}/console/#{route}")


def rendered(browser: Chrome, selector: str, what: str, timeout: float = 20) -> Any:
    """Wait until ``selector`` matches something, and the page is no longer loading."""
    script = f"return document.querySelector({selector!r}) && !document.querySelector('main > p.muted')"
    return wait_for(browser, script, timeout=timeout, what=what)


def screenshot(browser: Chrome, name: str) -> None:
    """The whole page (the window grown to its height for the picture, then put back)."""
    folder = os.environ.get("CONSOLE_SCREENSHOT_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = browser.get_window_size()
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(size["width"], min(height + 120, 2400))
    try:
        # two frames: the resize is laid out and the charts have redrawn at their new size
        browser.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
        browser.save_screenshot(str(Path(folder) / f"console-{name}.png"))
    finally:
        browser.set_window_size(size["width"], size["height"])


def table_ids(browser: Chrome) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "#campaign-table tbody tr")
    return [row.get_attribute("data-campaign-id") or "" for row in rows]


def wait_for_table(browser: Chrome, page: dict[str, Any], what: str) -> None:
    """Until the campaign table shows exactly ``page``'s campaigns, in its order."""
    wanted = ",".join(item["campaign_id"] for item in page["items"])
    script = (
        "return [...document.querySelectorAll('#campaign-table tbody tr')]"
        f".map((row) => row.dataset.campaignId).join(',') === {wanted!r}"
    )
    wait_for(browser, script, timeout=15, what=what)


async def test_the_overview_shows_the_four_channels_as_the_summary_says(
    browser: Chrome, pipeline: Pipeline
) -> None:
    date_to = pipeline.as_of - dt.timedelta(days=1)
    date_from = date_to - dt.timedelta(days=13)
    query = urlencode({"date_from": str(date_from), "date_to": str(date_to)})
    open_page(browser, pipeline, f"/overview?{query}")
    rendered(browser, ".tile-value[data-channel='total']", "the overview's tiles")
    shown: dict[tuple[str, str], str] = {
        (tile.get_attribute("data-channel") or "", tile.get_attribute("data-metric") or ""): (
            tile.get_attribute("data-value") or ""
        )
        for tile in browser.find_elements(By.CSS_SELECTOR, ".tile-value")
    }
    async with pipeline.client() as client:
        summary = (
            await client.get(
                "/api/metrics/summary", params={"date_from": str(date_from), "date_to": str(date_to)}
            )
        ).json()
    expected = {("total", kpi): summary["totals"][kpi] for kpi in KPIS}
    for channel in summary["channels"]:
        expected |= {(channel["channel"], kpi): channel[kpi] for kpi in KPIS}
    assert {channel["channel"] for channel in summary["channels"]} == {c.value for c in ALL_CHANNELS}
    assert set(shown) == set(expected)
    for key, value in expected.items():
        assert value is not None and float(shown[key]) == value, key
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.channel h3")]
    assert headings == ["Facebook", "Instagram", "Google Ads", "TikTok"]
    assert browser.find_element(By.CSS_SELECTOR, ".chart canvas").get_attribute("aria-label")
    screenshot(browser, "overview")


async def test_the_campaign_table_sorts_and_pages_as_the_api_does(
    browser: Chrome, pipeline: Pipeline
) -> None:
    params = {"channel": "google_ads", "sort": "cost", "order": "asc", "limit": "25"}
    open_page(browser, pipeline, f"/campaigns?{urlencode(params)}")
    rendered(browser, "#campaign-table tbody tr", "the campaign table")
    async with pipeline.client() as client:
        first = (await client.get("/api/campaigns", params=params)).json()
        second = (
            await client.get("/api/campaigns", params={**params, "cursor": first["next_cursor"]})
        ).json()
    assert table_ids(browser) == [item["campaign_id"] for item in first["items"]]

    # The export link asks the API for the same list as CSV.
    export = browser.find_element(By.XPATH, "//a[normalize-space()='Export CSV']").get_attribute("href")
    async with pipeline.client() as client:
        csv = await client.get(export or "")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    exported = [line.split(",")[0] for line in csv.text.splitlines()[1:]]
    assert exported[: len(first["items"])] == [item["campaign_id"] for item in first["items"]]

    browser.find_element(By.XPATH, "//button[normalize-space()='Next page']").click()
    wait_for_table(browser, second, "the second page")
    browser.find_element(By.XPATH, "//button[normalize-space()='Previous page']").click()
    wait_for_table(browser, first, "the first page again")

    # A click on a column header sorts by it, biggest first.
    browser.find_element(By.CSS_SELECTOR, "button.sort[aria-label='Sort by ROI']").click()
    async with pipeline.client() as client:
        by_roi = (
            await client.get("/api/campaigns", params={**params, "sort": "roi", "order": "desc"})
        ).json()
    wait_for_table(browser, by_roi, "sorted by ROI")

    # The filter form: a second channel ticked and applied lists both channels, as the API does.
    browser.find_element(By.CSS_SELECTOR, "form.filters input[name='channel'][value='tiktok']").click()
    browser.find_element(
        By.XPATH, "//form[contains(@class, 'filters')]//button[normalize-space()='Apply']"
    ).click()
    both = {**params, "channel": ["google_ads", "tiktok"], "sort": "roi", "order": "desc"}
    async with pipeline.client() as client:
        two_channels = (await client.get("/api/campaigns", params=both)).json()
    assert {item["channel"] for item in two_channels["items"]} == {"google_ads", "tiktok"}
    wait_for_table(browser, two_channels, "the two channels' page")


def wait_for_sync(browser: Chrome, sync_id: str, status: str, timeout: float = 60) -> None:
    card = f"article.sync[data-sync-id='{sync_id}']"
    script = f"return document.querySelector({card!r})?.dataset.status === {status!r}"
    wait_for(browser, script, timeout=timeout, what=f"sync {sync_id} {status} on screen")


def new_sync_on_screen(browser: Chrome, before: set[str]) -> str:
    """The id of the first sync card that was not on the page before."""
    known = ",".join(sorted(before))
    script = (
        f"const known = new Set({known!r}.split(','));"
        "return [...document.querySelectorAll('article.sync')].map((c) => c.dataset.syncId)"
        ".find((id) => !known.has(id)) ?? null"
    )
    return str(wait_for(browser, script, timeout=15, what="a new sync on screen"))


def forget_key(browser: Chrome) -> None:
    """As a new browser session: the console asks for the key on its next write."""
    browser.execute_script("sessionStorage.clear()")


def give_key(browser: Chrome) -> None:
    wait_for(browser, "return document.getElementById('key-dialog').open", what="the API key dialog")
    browser.find_element(By.ID, "key-input").send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()


async def test_a_sync_started_from_the_console_completes_on_screen(
    browser: Chrome, pipeline: Pipeline
) -> None:
    open_page(browser, pipeline, "/syncs")
    rendered(browser, "form.start", "the syncs page")
    before = {
        c.get_attribute("data-sync-id") or "" for c in browser.find_elements(By.CSS_SELECTOR, "article.sync")
    }
    browser.find_element(By.CSS_SELECTOR, "form.start input[value='instagram']").click()
    forget_key(browser)
    browser.find_element(By.XPATH, "//button[normalize-space()='Start sync']").click()
    give_key(browser)
    sync_id = new_sync_on_screen(browser, before)
    wait_for_sync(browser, sync_id, "completed")
    status = await pipeline.wait_finished(sync_id)
    assert status["status"] == "completed"
    (channel,) = status["channels"]  # type: ignore[misc]
    cells = {
        cell.get_attribute("data-count"): cell.text.replace(",", "")
        for cell in browser.find_elements(
            By.CSS_SELECTOR,
            f"article.sync[data-sync-id='{sync_id}'] tr[data-channel='instagram'] td[data-count]",
        )
    }
    assert cells["fetched"] == str(channel["fetched"]) and cells["loaded"] == str(channel["loaded"])


async def test_an_insight_links_to_its_campaign_page(browser: Chrome, pipeline: Pipeline) -> None:
    open_page(browser, pipeline, "/insights?status=all")
    rendered(browser, "#insight-table tbody tr", "the insight table")
    link = browser.find_element(
        By.XPATH, f"//a[@class='campaign-link' and text()='{pipeline.broken_campaign}']"
    )
    link.click()
    rendered(browser, "#history-table tbody tr", "the campaign page")
    async with pipeline.client() as client:
        campaign = (await client.get(f"/api/campaigns/{pipeline.broken_campaign}")).json()
        insights = (
            await client.get("/api/insights", params={"campaign_id": pipeline.broken_campaign})
        ).json()
    assert browser.find_element(By.TAG_NAME, "h1").text == campaign["name"]
    shown = [
        row.get_attribute("data-insight-id")
        for row in browser.find_elements(By.CSS_SELECTOR, "#campaign-insights tbody tr")
    ]
    assert shown == [item["id"] for item in insights["items"]]
    screenshot(browser, "campaign")


async def test_a_failed_channel_shows_its_error_and_its_retry_completes_the_sync(
    browser: Chrome, pipeline: Pipeline
) -> None:
    # Facebook's platform is down: the sync fails that channel.
    pipeline.stop("ingestor-facebook")
    pipeline.start(
        "demetra_ingestor", "ingestor-facebook-down", CHANNEL="facebook", MOCK_FAIL_CHANNELS="facebook"
    )
    async with pipeline.client() as client:
        response = await client.post("/api/syncs", json={"channels": ["facebook"]})
        sync_id = response.json()["sync_id"]
    failed = await pipeline.wait_finished(sync_id)
    assert failed["status"] == "failed"
    (channel,) = failed["channels"]
    open_page(browser, pipeline, "/syncs")
    wait_for_sync(browser, sync_id, "failed")
    row = f"article.sync[data-sync-id='{sync_id}'] tr[data-channel='facebook']"
    assert browser.find_element(By.CSS_SELECTOR, f"{row} td.error-text").text == channel["error"]

    # The platform is back; the retry button re-requests the failed channel and the sync completes.
    pipeline.stop("ingestor-facebook-down")
    pipeline.start("demetra_ingestor", "ingestor-facebook", CHANNEL="facebook")
    forget_key(browser)
    browser.find_element(By.CSS_SELECTOR, f"article.sync[data-sync-id='{sync_id}'] button.retry").click()
    give_key(browser)
    wait_for_sync(browser, sync_id, "completed")
    status = await pipeline.wait_finished(sync_id)
    assert status["status"] == "completed"
    (channel,) = status["channels"]
    assert channel["loaded"] == channel["fetched"] > 0
