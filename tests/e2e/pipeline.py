"""The services of one end-to-end test, each its own process, started on demand and all stopped at the end."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from demetra_testkit import ServiceProcess

API_KEY = "e2e-test-key"


class Pipeline:
    """Starts services on demand; stops every one of them at the end of the test."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**env, "API_KEY": API_KEY, "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"}
        self.log_dir = log_dir
        self._stack = ExitStack()
        self._count = 0

    def start(self, module: str, name: str | None = None, **env: str) -> ServiceProcess:
        self._count += 1
        service = ServiceProcess(
            name or f"{module.removeprefix('demetra_')}-{self._count}",
            module,
            env={**self.env, **env},
            log_dir=self.log_dir,
        )
        self._stack.callback(service.stop)
        return service.start()

    def close(self) -> None:
        self._stack.close()
