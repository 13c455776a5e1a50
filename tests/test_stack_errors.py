"""The local stack tells a newcomer, in one line, what to install when Java or Maven is missing."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

STACK_PATH = Path(__file__).resolve().parents[1] / "deploy" / "local" / "stack.py"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("demetra_local_stack", STACK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CACHE", tmp_path / "empty-cache")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    return module


def test_missing_maven_names_the_package_to_install(stack: ModuleType) -> None:
    with pytest.raises(stack.StackError, match=r"^Maven \(mvn\) is required .*: apt-get install -y maven$"):
        stack.kafka_libs()


def test_missing_java_names_the_package_to_install(stack: ModuleType) -> None:
    with pytest.raises(stack.StackError, match=r"^Java 17\+ is required .*: apt-get install -y openjdk-17"):
        stack.java()


def test_errors_print_as_one_line_and_exit_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(STACK_PATH), "logs"],
        capture_output=True,
        text=True,
        env={"DEMETRA_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"[stack] error: no logs in {tmp_path / 'logs'} yet"]


def test_cluster_ids_never_start_with_a_dash(stack: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # the first uuid encodes to "-" + ..., which Kafka's storage tool would read as an option
    dash_first = bytes([0xF8]) + bytes(15)
    plain = bytes(16)
    uuids = iter([stack.uuid.UUID(bytes=dash_first), stack.uuid.UUID(bytes=plain)])
    monkeypatch.setattr(stack.uuid, "uuid4", lambda: next(uuids))
    cluster_id = stack.new_cluster_id()
    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAA"
    assert len(cluster_id) == 22
