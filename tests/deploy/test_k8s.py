"""deploy/k8s, checked offline: `kustomize build` of the base and the local overlay, every object against
the Kubernetes API schemas (kubernetes-validate, strict) and KEDA's ScaledObject CRD schema, and what the
manifests promise: probes, limits, non-root, autoscaling that follows the topic layout, known settings."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from demetra_common.contracts import Channel
from demetra_common.settings import CommonSettings
from demetra_common.topics import PARTITIONS, Topics

# The oldest Kubernetes these manifests claim (docs/deploy.md) and the newest schemas the package ships.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
KEDA_SCHEMA = Path(__file__).resolve().parent / "schemas" / "keda-scaledobject-v1alpha1.json"
COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
BUILDS = ("base", "local")
SERVICES = (
    "scheduler",
    "loader",
    "insights",
    "query-api",
    *(f"ingestor-{c.value.replace('_', '-')}" for c in Channel),
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def workloads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]


def config(objects: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = by_kind(objects, "ConfigMap")["demetra-config"]["data"]
    return data


@pytest.mark.parametrize("build", BUILDS)
def test_kustomize_build_renders_every_service(k8s: dict[str, list[dict[str, Any]]], build: str) -> None:
    deployments, services = by_kind(k8s[build], "Deployment"), by_kind(k8s[build], "Service")
    for name in SERVICES:
        assert name in deployments, name
        assert name in services, name
    assert {"migrate", "kafka-topics"} <= set(by_kind(k8s[build], "Job"))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("build", BUILDS)
def test_every_object_validates_against_the_kubernetes_schemas(
    k8s: dict[str, list[dict[str, Any]]], build: str, version: str
) -> None:
    errors = []
    for obj in k8s[build]:
        if obj["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: checked against KEDA's schema below
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")
    assert errors == []


def test_the_kubernetes_validation_rejects_a_misplaced_field(k8s: dict[str, list[dict[str, Any]]]) -> None:
    """The check above is not vacuous: a probe put on the pod instead of the container is an error."""
    deployment = copy.deepcopy(by_kind(k8s["base"], "Deployment")["loader"])
    pod_spec(deployment)["livenessProbe"] = pod_spec(deployment)["containers"][0].pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("build", BUILDS)
def test_scaled_objects_validate_against_the_keda_crd_schema(
    k8s: dict[str, list[dict[str, Any]]], build: str
) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(KEDA_SCHEMA.read_text()))
    scaled = by_kind(k8s[build], "ScaledObject")
    assert scaled
    errors = [f"{name}: {e.message}" for name, obj in scaled.items() for e in validator.iter_errors(obj)]
    assert errors == []
    broken = copy.deepcopy(next(iter(scaled.values())))
    broken["spec"]["maxReplicas"] = broken["spec"].pop("maxReplicaCount")
    assert list(validator.iter_errors(broken)), "the KEDA schema must reject a misspelled field"


@pytest.mark.parametrize("build", BUILDS)
def test_every_service_is_probed_limited_and_unprivileged(
    k8s: dict[str, list[dict[str, Any]]], build: str
) -> None:
    for name in SERVICES:
        spec = pod_spec(by_kind(k8s[build], "Deployment")[name])
        [container] = spec["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
        assert {"name": "HTTP_PORT", "value": str(port)} in container["env"], name
        assert spec["securityContext"]["runAsUser"] == 10001, name  # the images' USER
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


@pytest.mark.parametrize("build", BUILDS)
def test_every_container_has_requests_limits_and_runs_as_non_root(
    k8s: dict[str, list[dict[str, Any]]], build: str
) -> None:
    for workload in workloads(k8s[build]):
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["enableServiceLinks"] is False, name
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name


@pytest.mark.parametrize("build", BUILDS)
def test_services_select_their_own_pods_by_the_named_http_port(
    k8s: dict[str, list[dict[str, Any]]], build: str
) -> None:
    deployments = by_kind(k8s[build], "Deployment") | by_kind(k8s[build], "StatefulSet")
    for name, service in by_kind(k8s[build], "Service").items():
        selector = service["spec"]["selector"]
        matching = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"Service {name} selects {len(matching)} workloads"
        container_ports = {p["name"] for c in pod_spec(matching[0])["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports, name


@pytest.mark.parametrize("build", BUILDS)
def test_keda_scales_the_loader_and_each_ingestor_on_lag_up_to_the_partition_count(
    k8s: dict[str, list[dict[str, Any]]], build: str
) -> None:
    topics = Topics(config(k8s[build])["KAFKA_TOPIC_PREFIX"])
    deployments = by_kind(k8s[build], "Deployment")
    wanted = {"loader": (topics.group("loader"), topics.campaign_fetched)}
    for channel in Channel:
        wanted[f"ingestor-{channel.value.replace('_', '-')}"] = (
            topics.group(f"ingestor.{channel.value}"),
            topics.sync_requested,
        )
    scaled = by_kind(k8s[build], "ScaledObject")
    assert set(scaled) == set(wanted)
    for name, (group, topic) in wanted.items():
        spec = scaled[name]["spec"]
        [trigger] = spec["triggers"]
        assert spec["scaleTargetRef"]["name"] == name and name in deployments
        assert "replicas" not in deployments[name]["spec"], f"{name}: KEDA owns the replica count"
        assert trigger["type"] == "kafka"
        assert (trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]) == (group, topic)
        assert spec["maxReplicaCount"] == PARTITIONS[topic.removeprefix(topics.prefix)], name
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert trigger["metadata"]["bootstrapServers"] == config(k8s[build])["KAFKA_BOOTSTRAP_SERVERS"], name


@pytest.mark.parametrize("build", BUILDS)
def test_each_ingestor_deployment_runs_its_own_channel(
    k8s: dict[str, list[dict[str, Any]]], build: str
) -> None:
    for channel in Channel:
        deployment = by_kind(k8s[build], "Deployment")[f"ingestor-{channel.value.replace('_', '-')}"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["demetra.io/channel"] == channel.value
        assert deployment["spec"]["selector"]["matchLabels"]["demetra.io/channel"] == channel.value
        [env] = [e for e in pod_spec(deployment)["containers"][0]["env"] if e["name"] == "CHANNEL"]
        assert env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['demetra.io/channel']"


@pytest.mark.parametrize("build", BUILDS)
def test_query_api_has_a_cpu_hpa(k8s: dict[str, list[dict[str, Any]]], build: str) -> None:
    hpa = by_kind(k8s[build], "HorizontalPodAutoscaler")["query-api"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "query-api"}
    assert hpa["minReplicas"] >= 2 and hpa["maxReplicas"] > hpa["minReplicas"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in by_kind(k8s[build], "Deployment")["query-api"]["spec"]


@pytest.mark.parametrize("build", BUILDS)
def test_settings_are_ones_the_services_know(
    k8s: dict[str, list[dict[str, Any]]], build: str, known_env_of: Callable[[str], set[str]]
) -> None:
    everything_known = set().union(
        *(
            known_env_of(p)
            for p in (
                "demetra_common",
                "demetra_scheduler",
                "demetra_ingestor",
                "demetra_loader",
                "demetra_insights",
                "demetra_query_api",
            )
        )
    )
    secret = by_kind(k8s[build], "Secret")["demetra-secrets"]
    shared = set(config(k8s[build])) | set(secret.get("stringData", {})) | set(secret.get("data", {}))
    assert shared - everything_known == set(), "ConfigMap/Secret keys no Settings class reads"
    for name, deployment in by_kind(k8s[build], "Deployment").items():
        if name not in SERVICES:
            continue
        package = "demetra_" + name.split("-")[0].replace("query", "query_api")
        own = {e["name"] for e in pod_spec(deployment)["containers"][0]["env"]}
        assert own - known_env_of(package) == set(), name


def test_the_base_secrets_are_placeholders_that_production_refuses(
    k8s: dict[str, list[dict[str, Any]]],
) -> None:
    base = {**config(k8s["base"]), **by_kind(k8s["base"], "Secret")["demetra-secrets"]["stringData"]}
    assert base["ENVIRONMENT"] == "production"
    with pytest.raises(ValidationError) as refused:
        CommonSettings.model_validate({name.lower(): value for name, value in base.items()})
    assert "API_KEY" in str(refused.value) and "DATABASE_URL" in str(refused.value)
    local = {**config(k8s["local"]), **by_kind(k8s["local"], "Secret")["demetra-secrets"]["stringData"]}
    CommonSettings.model_validate({name.lower(): value for name, value in local.items()})


@pytest.mark.parametrize("build", BUILDS)
def test_jobs_and_images_use_commands_and_tags_that_exist(
    k8s: dict[str, list[dict[str, Any]]],
    build: str,
    command_problems_in: Callable[[list[str], str], list[str]],
) -> None:
    for job in by_kind(k8s[build], "Job").values():
        [container] = pod_spec(job)["containers"]
        assert container["image"].startswith("demetra/tools:")
        assert command_problems_in(container["command"], "demetra_migrations") == []
    for workload in workloads(k8s[build]):
        for container in pod_spec(workload)["containers"]:
            tag = container["image"].rpartition(":")[2]
            assert tag != "latest" and re.search(r"\d", tag), container["image"]


def test_the_local_overlay_runs_kafka_postgres_and_kafka_ui_where_the_services_look(
    k8s: dict[str, list[dict[str, Any]]],
) -> None:
    objects = k8s["local"]
    namespace = by_kind(objects, "Namespace")
    assert list(namespace) == ["demetra"]
    assert {obj["metadata"].get("namespace") for obj in objects if obj["kind"] != "Namespace"} == {"demetra"}
    statefulsets, services = by_kind(objects, "StatefulSet"), by_kind(objects, "Service")
    assert {"kafka", "postgres"} <= set(statefulsets) and "kafka-ui" in by_kind(objects, "Deployment")

    kafka_address = config(objects)["KAFKA_BOOTSTRAP_SERVERS"]
    host, port = kafka_address.split(":")
    assert host == "kafka.demetra.svc" and int(port) in {
        p["port"] for p in services["kafka"]["spec"]["ports"]
    }
    kafka_env = {e["name"]: e.get("value") for e in pod_spec(statefulsets["kafka"])["containers"][0]["env"]}
    assert kafka_env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{kafka_address}"
    ui_env = {
        e["name"]: e.get("value")
        for e in pod_spec(by_kind(objects, "Deployment")["kafka-ui"])["containers"][0]["env"]
    }
    assert ui_env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == kafka_address

    secret = by_kind(objects, "Secret")["demetra-secrets"]["stringData"]
    database = urlsplit(secret["DATABASE_URL"])
    assert database.hostname == "postgres.demetra.svc" and database.port == 5432
    assert config(objects)["ENVIRONMENT"] == "local"
    [topics_job] = [pod_spec(by_kind(objects, "Job")["kafka-topics"])["containers"][0]["command"]]
    assert topics_job[topics_job.index("--replication-factor") + 1] == "1", "one broker, one replica"


def test_kubernetes_and_compose_run_the_same_infrastructure_versions(
    k8s: dict[str, list[dict[str, Any]]],
) -> None:
    compose_images = {
        service["image"] for service in yaml.safe_load(COMPOSE.read_text())["services"].values()
    }
    for workload in workloads(k8s["local"]):
        for container in pod_spec(workload)["containers"]:
            if not container["image"].startswith("demetra/"):
                assert container["image"] in compose_images, container["image"]
