"""The services of one end-to-end test, each its own process, started on demand and all stopped at the end."""

from __future__ import annotations

from pathlib import Path

from demetra_testkit import ServiceGroup

API_KEY = "e2e-test-key"


class Pipeline(ServiceGroup):
    """A ServiceGroup with the end-to-end tests' API key and readable logs."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        super().__init__({**env, "API_KEY": API_KEY, "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}, log_dir)
