"""What the deployment tests share: the parsed compose file, Dockerfile stages, kustomize builds, and the
settings each service knows. Everything here works offline, with no Docker engine and no cluster.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from demetra_common.settings import CommonSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUSTOMIZATIONS = {"base": K8S / "base", "local": K8S / "overlays" / "local"}

# Dockerfile target -> the workspace package it installs and the import package that package provides.
TARGETS: dict[str, tuple[str, str]] = {
    "tools": ("demetra-migrations", "demetra_migrations"),
    "scheduler": ("demetra-scheduler", "demetra_scheduler"),
    "ingestor": ("demetra-ingestor", "demetra_ingestor"),
    "loader": ("demetra-loader", "demetra_loader"),
    "insights": ("demetra-insights", "demetra_insights"),
    "query-api": ("demetra-query-api", "demetra_query_api"),
}


def service_written(package: str) -> bool:
    """A service package counts as written once it has its settings module."""
    return importlib.util.find_spec(f"{package}.settings") is not None


def env_names(settings_class: type[CommonSettings]) -> set[str]:
    """The environment variable names a pydantic-settings class reads (upper case)."""
    prefix = str(settings_class.model_config.get("env_prefix") or "")
    names = set()
    for name, info in settings_class.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
        names.add((alias or prefix + name).upper())
    return names


def known_env(package: str) -> set[str]:
    """Environment variables the service in ``package`` reads: its Settings class, else the common ones."""
    common = env_names(CommonSettings)
    if package == "demetra_common":
        return common
    if not service_written(package):
        return common
    module = importlib.import_module(f"{package}.settings")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, CommonSettings)
        and value is not CommonSettings
        and value.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{package}.settings must define one CommonSettings subclass, has {classes}"
    return env_names(classes[0])


# ------------------------------------------------------------------------------------------ compose


@pytest.fixture(scope="session")
def compose_text() -> str:
    return (REPO / "docker-compose.yml").read_text()


@pytest.fixture(scope="session")
def compose(compose_text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(compose_text)
    return loaded


# ------------------------------------------------------------------------------------------ Dockerfile


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for kind, value in self.instructions if kind == instruction]


@pytest.fixture(scope="session")
def dockerfile_stages() -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for entry in DockerfileParser(str(REPO / "Dockerfile")).structure:
        kind, value = entry["instruction"], entry["value"]
        if kind == "FROM":
            parts = value.split()
            assert len(parts) == 3 and parts[1].upper() == "AS", f"every stage is named: FROM {value}"
            current = stages[parts[2]] = Stage(name=parts[2], base=parts[0])
        elif kind != "COMMENT":
            assert current is not None, f"{kind} before the first FROM"
            current.instructions.append((kind, value))
    return stages


# ------------------------------------------------------------------------------------------ kustomize


def kustomize_command() -> list[str]:
    """`kustomize build`, or kubectl's built-in kustomize. The test fails (not skips) when neither exists."""
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    pytest.fail(
        "neither kustomize nor kubectl is on PATH; install kustomize with "
        "`GOBIN=$HOME/.local/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0`"
    )


@pytest.fixture(scope="session")
def k8s() -> dict[str, list[dict[str, Any]]]:
    """The objects `kustomize build` renders for the base and for each overlay."""
    builds = {}
    for name, path in KUSTOMIZATIONS.items():
        result = subprocess.run(
            [*kustomize_command(), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "KUBECONFIG": os.devnull},
        )
        assert result.returncode == 0, f"kustomize build {path} failed:\n{result.stderr}"
        builds[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return builds


# ------------------------------------------------------------------------------------------ scripts


def console_scripts() -> dict[str, str]:
    """Every console script a workspace package declares: name -> "module:function"."""
    scripts: dict[str, str] = {}
    manifests = [*(REPO / "libs").glob("*/pyproject.toml"), *(REPO / "services").glob("*/pyproject.toml")]
    for manifest in manifests:
        scripts.update(tomllib.loads(manifest.read_text())["project"].get("scripts", {}))
    return scripts


def command_problems(argv: list[str], package: str) -> list[str]:
    """Why ``argv`` would not start in the image of ``package`` (empty when it would)."""
    if argv[:2] == ["python", "-m"]:
        module = argv[2]
        if not module.startswith(package):
            return [f"`python -m {module}` is not provided by {package}"]
        if importlib.util.find_spec(module) is None:
            return [f"module {module} is not importable"]
        is_package = importlib.util.find_spec(module).submodule_search_locations is not None  # type: ignore[union-attr]
        if is_package and service_written(module) and importlib.util.find_spec(f"{module}.__main__") is None:
            return [f"package {module} has no __main__"]
        return []
    scripts = console_scripts()
    if argv[0] not in scripts:
        return [f"console script {argv[0]} is declared by no workspace package"]
    module, _, function = scripts[argv[0]].partition(":")
    if not callable(getattr(importlib.import_module(module), function, None)):
        return [f"console script {argv[0]} points at {scripts[argv[0]]}, which is not a function"]
    return []


# Test modules are imported in importlib mode and cannot import this file: they get the helpers as fixtures.


@pytest.fixture(scope="session")
def targets() -> dict[str, tuple[str, str]]:
    return TARGETS


@pytest.fixture(scope="session")
def known_env_of() -> Callable[[str], set[str]]:
    return known_env


@pytest.fixture(scope="session")
def command_problems_in() -> Callable[[list[str], str], list[str]]:
    return command_problems
