"""The ``pipeline`` fixture of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline


@pytest.fixture
def pipeline(service_env: dict[str, str], tmp_path: Path) -> Iterator[Pipeline]:
    running = Pipeline(service_env, tmp_path / "logs")
    try:
        yield running
    finally:
        running.close()
