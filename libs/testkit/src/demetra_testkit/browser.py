"""A real browser for tests: Debian's headless Chromium driven by its chromedriver (Selenium), and a reader
for the pages that draw a terminal (textual-serve's xterm.js) instead of HTML.

Chromium comes from the system (``apt-get install chromium chromium-driver``; ``make test`` installs both):
Selenium's own browser download cannot work on a machine without internet, so none is attempted.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyte
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, and quiet: no sandbox (tests run as root), no GPU, and nothing that calls home on its own.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@contextmanager
def headless_chromium(*, width: int = 1400, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, closed (and its profile removed) on exit.

    Its performance log records the network (the websocket frames a terminal page receives, for
    ``TerminalScreen``).
    """
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver (make test does)"
        )
    profile = tempfile.mkdtemp(prefix="demetra-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: webdriver.Chrome, script: str, *, timeout: float = 30.0, what: str = "page") -> Any:
    """Run ``script`` (a JavaScript function body that returns a value) until the value is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not rendered within {timeout:.0f}s (last value: {value!r})")
        time.sleep(0.2)


@dataclass
class TerminalScreen:
    """What the terminal of a textual-serve page shows, as lines of text.

    xterm.js draws on a canvas (WebGL or 2D), so the page has no text to read. The screen is rebuilt instead
    from the bytes the page's websocket received, fed in order to a VT terminal emulator (pyte) of the size
    the page asked for: the same stream, interpreted the same way, as what xterm.js drew.
    """

    driver: webdriver.Chrome
    _screen: pyte.Screen | None = None
    _stream: pyte.ByteStream = field(default_factory=pyte.ByteStream)

    def open(self, url: str) -> TerminalScreen:
        _performance_log(self.driver)  # forget earlier pages' frames
        self._screen = None
        self.driver.get(url)
        return self

    def lines(self) -> list[str]:
        for entry in _performance_log(self.driver):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message["params"]
            if method == "Network.webSocketCreated":
                size = parse_qs(urlparse(params["url"]).query)
                self._screen = pyte.Screen(int(size["width"][0]), int(size["height"][0]))
                self._stream = pyte.ByteStream(self._screen)
            elif self._screen is None:
                continue
            elif method == "Network.webSocketFrameSent":
                self._resize(params["response"]["payloadData"])
            elif method == "Network.webSocketFrameReceived" and params["response"]["opcode"] == 2:
                self._stream.feed(base64.b64decode(params["response"]["payloadData"]))
        return [] if self._screen is None else [line.rstrip() for line in self._screen.display]

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, *needles: str, timeout: float = 30.0) -> str:
        """The screen's text once it shows every one of ``needles`` (AssertionError at ``timeout``)."""
        return self.wait_until(lambda text: all(needle in text for needle in needles), timeout=timeout)

    def wait_until(self, shows: Callable[[str], object], *, timeout: float = 30.0) -> str:
        """The screen's text once ``shows(text)`` is truthy (AssertionError showing it at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if shows(text):
                return text
            if time.monotonic() >= deadline:
                raise AssertionError(f"the terminal did not show it within {timeout:.0f}s; it shows:\n{text}")
            time.sleep(0.2)

    def press_until(self, keys: str, *needles: str, timeout: float = 30.0, each: float = 2.0) -> str:
        """Type ``keys`` until the screen shows ``needles``, waiting ``each`` seconds after every try: keys
        typed while a terminal app is still moving its focus (a screen just opened) are lost."""
        deadline = time.monotonic() + timeout
        while True:
            self.type(keys)
            try:
                return self.wait_for(*needles, timeout=min(each, max(deadline - time.monotonic(), 0.0)))
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise

    def type(self, keys: str) -> None:
        """Type into the terminal (xterm.js listens on its hidden textarea)."""
        self.driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(keys)

    def _resize(self, payload: str) -> None:
        try:
            kind, body = json.loads(payload)
        except (ValueError, TypeError):
            return
        if kind == "resize" and self._screen is not None:
            self._screen.resize(lines=int(body["height"]), columns=int(body["width"]))


def _performance_log(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The browser's log entries since the last call (each read empties it)."""
    entries: list[dict[str, Any]] = driver.get_log("performance")  # type: ignore[no-untyped-call]
    return entries
