"""The Dockerfile, checked without a Docker engine: its structure, hadolint, the build context that
.dockerignore lets through, and a rehearsal of each build stage's uv commands (offline, from uv's cache)."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("scheduler", "ingestor", "loader", "insights", "query-api")


def lineage(stages: dict[str, Any], name: str) -> list[Any]:
    """The stage and the stages it is built FROM, nearest first."""
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


def effective(stages: dict[str, Any], name: str, instruction: str) -> str | None:
    """The last ``instruction`` (USER, HEALTHCHECK, CMD, ...) in force in stage ``name``."""
    for stage in lineage(stages, name):
        if values := stage.values(instruction):
            return str(values[-1])
    return None


def uv_command(run: str) -> list[str] | None:
    """The `uv ...` command of a RUN instruction, without BuildKit's --mount flags (None if not uv)."""
    words = shlex.split(run)
    while words and words[0].startswith("--mount="):
        words.pop(0)
    return words if words and words[0] == "uv" else None


def uv_commands(stage: Any) -> list[list[str]]:
    return [command for run in stage.values("RUN") if (command := uv_command(run))]


def build_stage_of(stages: dict[str, Any], target: str) -> Any:
    """The stage whose /app/.venv a target copies."""
    sources = [
        copy.split()[0].removeprefix("--from=")
        for copy in stages[target].values("COPY")
        if copy.startswith("--from=") and copy.split()[-1] == "/app/.venv"
    ]
    assert len(sources) == 1, f"{target} copies one virtualenv from one build stage, got {sources}"
    return stages[sources[0]]


def test_every_image_has_a_target(dockerfile_stages: dict[str, Any], targets: dict[str, Any]) -> None:
    assert set(targets) <= set(dockerfile_stages)


def test_base_images_are_pinned_to_a_version(dockerfile_stages: dict[str, Any]) -> None:
    external = {stage.base for stage in dockerfile_stages.values() if stage.base not in dockerfile_stages}
    assert external, "no base image found"
    for image in external:
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{image} is not pinned"


@pytest.mark.parametrize("target", ["tools", *SERVICES])
def test_target_is_multi_stage_and_ships_only_a_virtualenv(
    dockerfile_stages: dict[str, Any], target: str
) -> None:
    build = build_stage_of(dockerfile_stages, target)
    runtime = lineage(dockerfile_stages, target)
    assert build.name not in {stage.name for stage in runtime}, "the build stage is not in the final image"
    assert not any(uv_commands(stage) for stage in runtime), "no uv in the final image"
    copies = [copy for stage in runtime for copy in stage.values("COPY")]
    assert all(copy.startswith("--from=") for copy in copies), f"only built artefacts are copied: {copies}"


@pytest.mark.parametrize("target", ["tools", *SERVICES])
def test_build_stage_installs_its_package_from_the_lock_without_dev_tools(
    dockerfile_stages: dict[str, Any], targets: dict[str, tuple[str, str]], target: str
) -> None:
    distribution = targets[target][0]
    commands = uv_commands(build_stage_of(dockerfile_stages, target))
    assert commands, f"{target}: its build stage runs no uv command"
    for command in commands:
        assert command[:2] == ["uv", "sync"]
        assert {"--frozen", "--no-dev"} <= set(command), command
        assert command[command.index("--package") + 1] == distribution, command
    assert "--no-editable" in commands[-1], "the final sync installs the packages, not links to /src"


@pytest.mark.parametrize("target", ["tools", *SERVICES])
def test_target_runs_as_an_unprivileged_numeric_user(dockerfile_stages: dict[str, Any], target: str) -> None:
    user = effective(dockerfile_stages, target, "USER")
    assert user is not None, f"{target} runs as root"
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"{target}: USER {user} (Kubernetes' runAsNonRoot needs a uid)"


@pytest.mark.parametrize("target", SERVICES)
def test_service_target_has_a_healthcheck_on_its_own_port(
    dockerfile_stages: dict[str, Any],
    targets: dict[str, tuple[str, str]],
    command_problems_in: Callable[[list[str], str], list[str]],
    target: str,
) -> None:
    healthcheck = effective(dockerfile_stages, target, "HEALTHCHECK")
    assert healthcheck is not None and "CMD" in healthcheck, target
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command_problems_in(probe, "demetra_common") == []
    port = effective(dockerfile_stages, target, "ENV")
    assert port is not None and port.startswith("HTTP_PORT="), f"{target} sets its HTTP_PORT"
    assert dockerfile_stages[target].values("EXPOSE") == [port.removeprefix("HTTP_PORT=")]


def test_tools_target_declares_it_has_no_healthcheck(dockerfile_stages: dict[str, Any]) -> None:
    assert dockerfile_stages["tools"].values("HEALTHCHECK") == ["NONE"]


@pytest.mark.parametrize("target", ["tools", *SERVICES])
def test_target_command_exists_in_its_package(
    dockerfile_stages: dict[str, Any],
    targets: dict[str, tuple[str, str]],
    command_problems_in: Callable[[list[str], str], list[str]],
    target: str,
) -> None:
    cmd = effective(dockerfile_stages, target, "CMD")
    assert cmd is not None
    assert command_problems_in(json.loads(cmd), targets[target][1]) == []


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        ["hadolint", str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    result = subprocess.run(["hadolint", str(bad)], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "DL3007" in result.stdout


# ------------------------------------------------------------------------------------------ build context


def _ignore_rules() -> list[tuple[bool, str]]:
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.removeprefix("!").strip("/")))
    return rules


def _matches(pattern: str, path: str) -> bool:
    """Docker's rule: a pattern matches a path or any of its parent folders; ** spans folders."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        tail = pattern.removeprefix("**/")
        assert "/" not in tail, f"this check does not understand the .dockerignore pattern {pattern}"
        return any(fnmatch.fnmatchcase(part, tail) for part in parts)
    return any(
        fnmatch.fnmatchcase(candidate, pattern) and candidate.count("/") == pattern.count("/")
        for candidate in candidates
    )


def in_build_context(path: str) -> bool:
    included = True
    for negated, pattern in _ignore_rules():
        if _matches(pattern, path):
            included = negated
    return included


def build_context() -> list[str]:
    """The repository files a `docker build .` receives (tracked and untracked-not-ignored by git)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [path for path in listed if (REPO / path).is_file() and in_build_context(path)]


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_secret(
    dockerfile_stages: dict[str, Any],
) -> None:
    context = build_context()
    for stage in dockerfile_stages.values():
        for copy in stage.values("COPY"):
            if copy.startswith("--from="):
                continue
            for source in copy.split()[:-1]:
                source = source.rstrip("/")
                assert any(path == source or path.startswith(source + "/") for path in context), source
    for path in context:
        assert path.startswith(("libs/", "services/")) or path in ("pyproject.toml", "uv.lock"), path
        assert "/tests/" not in path and "__pycache__" not in path, path
    for secret in (".env", ".env.example", ".venv/bin/python", ".state/run/kafka.pid", ".git/HEAD"):
        assert not in_build_context(secret), secret


# ------------------------------------------------------------------------------------------ rehearsal


def _stage_env(stages: dict[str, Any], name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for stage in reversed(lineage(stages, name)):
        for value in stage.values("ENV"):
            for word in shlex.split(value):
                key, _, val = word.partition("=")
                env[key] = val
    return env


def _copy_into(workdir: Path, copy: str, context: list[str]) -> None:
    """A `COPY sources... destination` of the build stages, which keep each path as it is in the repo."""
    *sources, destination = copy.split()
    for source in (source.rstrip("/") for source in sources):
        assert destination in ("./", source, os.path.dirname(source) + "/"), f"COPY {copy} moves files"
        for path in context:
            if path == source or path.startswith(source + "/"):
                (workdir / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(REPO / path, workdir / path)


@pytest.mark.parametrize("target", ["tools", *SERVICES])
def test_build_stage_uv_commands_produce_a_working_environment(
    dockerfile_stages: dict[str, Any],
    targets: dict[str, tuple[str, str]],
    tmp_path: Path,
    target: str,
) -> None:
    """Replays the build stage: manifests only, first sync, then the sources, second sync; offline from uv's
    cache (which `make install` filled). The result must run the target's command and hold no dev tool."""
    build = build_stage_of(dockerfile_stages, target)
    context = build_context()
    workdir = tmp_path / "src"
    venv = tmp_path / "venv"
    env = {
        **os.environ,
        **_stage_env(dockerfile_stages, build.name),
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_LINK_MODE": "hardlink",
        "UV_PYTHON": shutil.which("python3.11") or "python3",
        "UV_OFFLINE": "1",
        "UV_NO_PROGRESS": "1",
        "UV_COMPILE_BYTECODE": "0",  # only saves start-up time in the image; slow here
    }
    env.pop("VIRTUAL_ENV", None)
    for stage in reversed(lineage(dockerfile_stages, build.name)):
        for kind, value in stage.instructions:
            if kind == "COPY" and not value.startswith("--from="):
                _copy_into(workdir, value, context)
            elif kind == "RUN" and (command := uv_command(value)):
                result = subprocess.run(
                    command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120
                )
                assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr}"

    package = targets[target][1]
    argv = json.loads(effective(dockerfile_stages, target, "CMD") or "[]")
    check = (
        f"import importlib.util as u; assert u.find_spec({package!r}); "
        "assert u.find_spec('pytest') is None, 'dev tools in the image'; "
        "assert u.find_spec('demetra_testkit') is None, 'test helpers in the image'"
    )
    if target != "tools":
        check += "; assert u.find_spec('alembic') is None, 'migrations in a service image'"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", check], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    if argv[0] != "python":
        assert (venv / "bin" / argv[0]).exists(), f"{argv[0]} is not installed in the {target} image"
    assert (venv / "bin" / "demetra-topics").exists()
    assert (venv / "bin" / "demetra-migrate").exists() == (target == "tools")
