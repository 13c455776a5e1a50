"""docker-compose.yml, checked offline: the compose specification's schema, commands that exist, settings
the services know, pinned images, scalable services, health checks and start order."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from demetra_common.contracts import Channel

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"

# Services meant to run as several replicas (`docker compose up --scale NAME=N`).
SCALABLE = (
    "loader",
    "insights",
    "query-api",
    "ingestor-facebook",
    "ingestor-instagram",
    "ingestor-google-ads",
    "ingestor-tiktok",
)
ONE_SHOT = ("kafka-init", "migrate")
SERVICE_TARGETS = ("scheduler", "ingestor", "loader", "insights", "query-api")

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR-default}, with ``env`` set (default: nothing set)."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        if op == ":-":
            return env.get(name) or arg
        if op == "-":
            return env.get(name, arg)
        return env.get(name, "")

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def package_of(service: dict[str, Any], targets: dict[str, tuple[str, str]]) -> str | None:
    """The import package a service runs, for the services built from our Dockerfile."""
    build = service.get("build")
    return targets[build["target"]][1] if isinstance(build, dict) else None


def env_keys(service: dict[str, Any]) -> set[str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return {item.split("=", 1)[0] for item in environment}
    return set(environment)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_compose_file_validates_against_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_misspelled_key(compose: dict[str, Any]) -> None:
    """The schema check above is not vacuous: a typo in a service is an error."""
    broken = copy.deepcopy(compose)
    broken["services"]["loader"]["healtcheck"] = broken["services"]["loader"].pop("healthcheck")
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    assert any("healtcheck" in error.message for error in validator.iter_errors(broken))


def test_every_image_is_pinned_to_a_version_tag(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = interpolate(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image} is not pinned to a version"


def test_scalable_services_have_no_container_name_and_no_fixed_host_port(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in SCALABLE:
        assert "container_name" not in services[name], name
        assert "ports" not in services[name], (
            f"{name} publishes a host port: a second replica could not start"
        )
    assert [name for name, service in services.items() if "container_name" in service] == []


def test_the_query_api_is_reached_through_a_gateway_over_every_replica(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    gateway = services["gateway"]
    assert [interpolate(port) for port in gateway["ports"]] == ["8000:8000"]
    caddyfile = compose["configs"][gateway["configs"][0]["source"]]["content"]
    assert re.search(r"dynamic a \{\s*name query-api\s*port 8000", caddyfile), caddyfile
    assert gateway["depends_on"]["query-api"]["condition"] == "service_healthy"


def test_one_ingestor_service_per_channel(services: dict[str, dict[str, Any]]) -> None:
    channels = {
        service["environment"]["CHANNEL"]: name
        for name, service in services.items()
        if "CHANNEL" in env_keys(service)
    }
    assert set(channels) == {channel.value for channel in Channel}
    for channel, name in channels.items():
        assert services[name]["build"]["target"] == "ingestor", name
        assert name == f"ingestor-{channel.replace('_', '-')}"


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", f"{name} is a one-shot job"
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"


def test_services_start_after_the_topics_and_the_migrations(services: dict[str, dict[str, Any]]) -> None:
    def condition(service: str, on: str) -> str | None:
        depends_on = services[service].get("depends_on", {})
        return depends_on.get(on, {}).get("condition") if isinstance(depends_on, dict) else None

    assert condition("kafka-init", "kafka") == "service_healthy"
    assert condition("migrate", "postgres") == "service_healthy"
    assert condition("kafka-ui", "kafka-init") == "service_completed_successfully"
    for name, service in services.items():
        if service.get("build", {}).get("target") in SERVICE_TARGETS:
            assert condition(name, "kafka-init") == "service_completed_successfully", name
            assert condition(name, "migrate") == "service_completed_successfully", name


def test_build_targets_exist_in_the_dockerfile(
    services: dict[str, dict[str, Any]], dockerfile_stages: Any
) -> None:
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["context"] == "."
            assert service["build"]["target"] in dockerfile_stages, name
            image = interpolate(service["image"])
            assert image.startswith(f"demetra/{service['build']['target']}:"), f"{name}: {image}"


def test_every_demetra_command_exists(
    services: dict[str, dict[str, Any]],
    dockerfile_stages: Any,
    targets: dict[str, tuple[str, str]],
    command_problems_in: Callable[[list[str], str], list[str]],
) -> None:
    problems = []
    for name, service in services.items():
        package = package_of(service, targets)
        if package is None:
            continue
        command = service.get("command")
        if command is None:  # the image's CMD
            [cmd] = dockerfile_stages[service["build"]["target"]].values("CMD")
            command = json.loads(cmd)
        problems += [f"{name}: {problem}" for problem in command_problems_in(command, package)]
    assert problems == []


def test_every_environment_variable_is_a_setting_the_service_knows(
    services: dict[str, dict[str, Any]],
    targets: dict[str, tuple[str, str]],
    known_env_of: Callable[[str], set[str]],
) -> None:
    unknown = {}
    for name, service in services.items():
        package = package_of(service, targets)
        if package is not None and (extra := env_keys(service) - known_env_of(package)):
            unknown[name] = sorted(extra)
    assert unknown == {}


def test_containers_reach_kafka_and_postgres_inside_the_compose_network(
    services: dict[str, dict[str, Any]],
) -> None:
    kafka = services["kafka"]["environment"]
    internal = next(
        address.removeprefix("INTERNAL://")
        for address in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
        if address.startswith("INTERNAL://")
    )
    assert internal == "kafka:19092"
    assert services["kafka-ui"]["environment"]["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == internal
    for name, service in services.items():
        environment = service.get("environment") or {}
        if "KAFKA_BOOTSTRAP_SERVERS" in environment:
            assert environment["KAFKA_BOOTSTRAP_SERVERS"] == internal, name
        if "DATABASE_URL" in environment:
            url = interpolate(environment["DATABASE_URL"])
            assert url == "postgresql+asyncpg://demetra:demetra@postgres:5432/demetra", name
            assert environment["HTTP_HOST"] == "0.0.0.0", name


def test_every_compose_variable_is_documented_in_env_example(compose_text: str) -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = {match["name"] for match in _INTERPOLATION.finditer(compose_text.replace("$$", ""))}
    assert used - documented == set()
