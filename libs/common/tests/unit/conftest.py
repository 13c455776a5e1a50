"""The JSON logging of a service (``configure_logging``) captured line by line, and restored after."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from demetra_common.logging import configure_logging

LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogLines]:
    """Configures logging as service ``unit`` does it; returns the lines written so far, parsed."""
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("unit", "INFO", "json")
    try:
        yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
