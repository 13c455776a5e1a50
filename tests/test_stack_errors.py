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


def test_one_broker_stays_the_default_and_three_get_their_own_ports_and_folders(
    stack: ModuleType, tmp_path: Path
) -> None:
    [single] = stack.kafka_cluster(state=tmp_path)
    assert (single.name, single.port, single.controller_port, single.home) == (
        "kafka",
        9092,
        9093,
        tmp_path / "kafka",
    )
    cluster = stack.kafka_cluster(3, 19092, tmp_path)
    assert [(n.name, n.port, n.controller_port) for n in cluster] == [
        ("kafka-1", 19092, 19093),
        ("kafka-2", 19094, 19095),
        ("kafka-3", 19096, 19097),
    ]
    assert len({n.data for n in cluster}) == 3
    assert stack.bootstrap_servers(cluster) == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"


def test_node_configs_name_the_whole_quorum_and_replicate_by_cluster_size(
    stack: ModuleType, tmp_path: Path
) -> None:
    def properties(path: Path) -> dict[str, str]:
        lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        return dict(line.split("=", 1) for line in lines)

    [single] = stack.kafka_cluster(state=tmp_path)
    one = properties(stack.write_node_config(single, [single]))
    assert (one["controller.quorum.voters"], one["offsets.topic.replication.factor"]) == (
        "1@127.0.0.1:9093",
        "1",
    )
    assert one["min.insync.replicas"] == "1"
    assert "@" not in "".join(k + v for k, v in one.items() if k != "controller.quorum.voters")

    cluster = stack.kafka_cluster(3, 19092, tmp_path)
    second = properties(stack.write_node_config(cluster[1], cluster, {"broker.session.timeout.ms": "3000"}))
    assert second["node.id"] == "2"
    assert second["listeners"] == "PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095"
    assert second["controller.quorum.voters"] == "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert second["log.dirs"] == str(tmp_path / "kafka-2" / "data")
    assert (second["default.replication.factor"], second["min.insync.replicas"]) == ("3", "2")
    assert second["transaction.state.log.min.isr"] == "2"
    assert second["broker.session.timeout.ms"] == "3000"


def test_the_active_controller_is_the_leader_of_the_newest_epoch(stack: ModuleType, tmp_path: Path) -> None:
    cluster = stack.kafka_cluster(3, 19092, tmp_path)
    assert stack.active_controller(cluster) is None
    for node, (leader, epoch) in zip(cluster, [(1, 3), (2, 4), (-1, 5)], strict=True):
        folder = node.data / "__cluster_metadata-0"
        folder.mkdir(parents=True)
        (folder / "quorum-state").write_text(f'{{"leaderId":{leader},"leaderEpoch":{epoch},"votedId":-1}}')
    assert stack.active_controller(cluster) == 2  # epoch 5 is an election still without a leader
