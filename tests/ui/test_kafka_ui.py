"""The local stack's Kafka UI: kaskade in the browser through textual-serve, started as `stack.py up` does.

Started here by the stack's own functions (its state in a temporary folder, on free ports) against this
module's private topics, so the views show them and nothing of the shared cluster gets in the way.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker
from selenium.webdriver import Chrome
from selenium.webdriver.common.keys import Keys

from demetra_common.topics import Topics
from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.records import Rejection, check_campaign_record
from demetra_loader.handlers import KafkaDeadLetters
from demetra_testkit import free_port, private_topics
from demetra_testkit.browser import TerminalScreen

STACK_PATH = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.py"
# What the page of a textual-serve app carries, and an address it would fetch from outside this machine.
TERMINAL = 'class="textual-terminal"'
FETCHED_FROM_OUTSIDE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//(?!127\.0\.0\.1)""")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """deploy/local/stack.py as a module whose state (pid files, logs, the UI's page) is a temporary dir."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEMETRA_STATE_DIR", str(tmp_path_factory.mktemp("stack-state")))
        spec = importlib.util.spec_from_file_location("demetra_local_stack_ui", STACK_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        patch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        yield module


@pytest.fixture(scope="module")
async def ui_topics(kafka_bootstrap: str) -> AsyncIterator[Topics]:
    async with private_topics(kafka_bootstrap) as topics:
        yield topics


def _two_free_ports() -> int:
    """A port that is free and whose next port is free too (the overview and the dead letters)."""
    while True:
        port = free_port()
        if port < 65535 and _bindable(port + 1):
            return port


def _bindable(port: int) -> bool:
    """Nothing holds ``port``: no listener, and no connection's local end either (a busy machine's
    outgoing connections take ports from the same range; a connect probe does not see those)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def kafka_ui(stack: ModuleType, ui_topics: Topics, kafka_bootstrap: str) -> Iterator[tuple[Any, Any]]:
    """(overview, dead letters), running as `make up` runs them."""
    uis = stack.kafka_uis(ui_topics.prefix, port=_two_free_ports())
    try:
        assert stack.start_kafka_uis(uis, kafka_bootstrap) == list(uis)
        yield uis
    finally:
        for ui in uis:
            stack.terminate(ui.name)


def test_each_view_serves_the_terminal_page_with_nothing_from_outside(kafka_ui: tuple[Any, Any]) -> None:
    for ui in kafka_ui:
        with urllib.request.urlopen(ui.url, timeout=10) as response:
            assert response.status == 200
            page = response.read().decode()
        assert TERMINAL in page
        assert ui.title in page
        assert FETCHED_FROM_OUTSIDE.findall(page) == []


def test_the_overview_shows_every_demetra_topic_with_groups_and_lag(
    kafka_ui: tuple[Any, Any], ui_topics: Topics, chromium_browser: Chrome
) -> None:
    overview, _ = kafka_ui
    screen = TerminalScreen(chromium_browser).open(overview.url)
    screen.wait_for("Topics", "Groups", "Lag")
    # The shared cluster has other tests' topics too: show only this module's.
    _filter_topics(screen, ui_topics.prefix)
    screen.wait_for(f"[*{ui_topics.prefix}*][{len(ui_topics.layout())}]", *ui_topics.layout())


def _filter_topics(screen: TerminalScreen, prefix: str, *, timeout: float = 30.0) -> None:
    """Open kaskade's topic filter and apply ``prefix``. Keys typed while the filter's input is still
    taking focus are lost, so the input is read back (and typed again) before the filter is applied."""
    screen.press_until("/", "Filter Topics")
    deadline = time.monotonic() + timeout
    while True:
        screen.type(prefix)
        try:
            screen.wait_until(lambda text: _filter_input(text) == prefix, timeout=3)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            screen.type(Keys.BACKSPACE * (len(prefix) + 10))
    screen.type(Keys.ENTER)


def _filter_input(text: str) -> str | None:
    """What the filter's input box holds: the line under its ``┌─ Filter Topics ─...┐`` border."""
    lines = text.splitlines()
    for above, line in itertools.pairwise(lines):
        if "Filter Topics" in above:
            left, right = above.index("┌"), above.index("┐")
            return line[left + 1 : right].strip(" │")
    return None


async def test_the_dead_letter_view_shows_a_rejected_record_and_its_reason(
    kafka_ui: tuple[Any, Any], ui_topics: Topics, kafka_bootstrap: str, chromium_browser: Chrome
) -> None:
    _, dead_letters = kafka_ui
    value = b'{"schema_version": 2, "sync_id": "ui-dead-letter"}'
    rejection = check_campaign_record(value)
    assert isinstance(rejection, Rejection)
    source = (ui_topics.campaign_fetched, 0, 7)  # topic, partition, offset
    record = ConsumerRecord(*source, 0, 0, b"fb_ui_1", value, None, 7, len(value), [])
    letter = DeadLetter(record, rejection)
    broker = KafkaBroker(kafka_bootstrap)
    await broker.start()
    try:
        await KafkaDeadLetters(broker.publisher(ui_topics.campaign_fetched_dlq)).send([letter])
    finally:
        await broker.stop()

    screen = TerminalScreen(chromium_browser).open(dead_letters.url)
    screen.wait_for(ui_topics.campaign_fetched_dlq, "fb_ui_1")
    # The selected record's details: tabs Key, Value, Headers [n], Export.
    screen.press_until(Keys.ENTER, "Headers [")
    headers = letter.headers()
    screen.press_until(Keys.ARROW_RIGHT, *headers)  # the Headers tab lists every header by name
    screen.press_until(Keys.ARROW_RIGHT, headers["reason"][:60])  # Export: the record as JSON, values too
