"""Each workspace member declares exactly what its runtime code imports, and test helpers stay out of it.

deptry reads a member's pyproject.toml and the imports under its src/: a module imported but not declared
(DEP001, or DEP003 when it only arrives through another member), or declared but never imported (DEP002),
fails the test. Tests and benchmarks are not scanned: their tools are the root project's dev group.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKSPACE = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
MEMBERS = sorted(
    path.parent.relative_to(REPO).as_posix()
    for pattern in WORKSPACE
    for path in REPO.glob(f"{pattern}/pyproject.toml")
)
SERVICES = [member for member in MEMBERS if member.startswith("services/")]
DEV_ONLY = {"demetra-testkit"}


def manifest(member: str) -> dict[str, object]:
    return tomllib.loads((REPO / member / "pyproject.toml").read_text())["project"]


def requirement_names(member: str) -> set[str]:
    names = set()
    for requirement in manifest(member).get("dependencies", []):  # type: ignore[union-attr]
        name = str(requirement)
        for stop in "[<>=!~; ":
            name = name.split(stop)[0]
        names.add(name.lower())
    return names


def test_the_workspace_has_its_members() -> None:
    assert {"libs/common", "libs/testkit", *SERVICES} <= set(MEMBERS)
    assert len(SERVICES) >= 4


@pytest.mark.parametrize("member", MEMBERS)
def test_member_declares_exactly_what_it_imports(member: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deptry", "src", "--no-ansi"],
        cwd=REPO / member,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("member", MEMBERS)
def test_no_runtime_member_depends_on_test_helpers(member: str) -> None:
    if manifest(member)["name"] in DEV_ONLY:
        return
    assert requirement_names(member) & DEV_ONLY == set()


@pytest.mark.parametrize("service", SERVICES)
def test_services_never_depend_on_each_other(service: str) -> None:
    others = {str(manifest(other)["name"]) for other in SERVICES if other != service}
    assert requirement_names(service) & others == set()
