"""deploy/prometheus and deploy/grafana, checked offline: `promtool check` of the rules and the compose
scrape config, `promtool test rules` unit tests of the alerts, the dashboard's datasource. That the metrics
they name are exported is checked against the running services in tests/e2e/test_observability.py.

promtool comes from Debian's `prometheus` package, which `make test` installs when missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from demetra_common.topics import Topics

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "demetra.json"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make test` installs it (apt-get install prometheus)"
    return found


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_alert_rules_are_valid(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "check", "rules", "alerts.yml")


def test_the_alerts_fire_as_their_unit_tests_expect(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "test", "rules", "alerts.test.yml")


def test_the_compose_scrape_config_is_valid_and_loads_the_rules(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "check", "config", "prometheus.yml")


def test_the_rules_name_the_issues_alerts_and_only_demetra_topics() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    assert {
        "DemetraConsumerLagGrowing",
        "DemetraDeadLettersReceived",
        "DemetraSyncFailed",
        "DemetraSyncTimedOut",
        "DemetraInsightBacklog",
    } <= set(alerts)
    for alert in alerts.values():
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]
    known = set(Topics().layout())
    for alert in alerts.values():
        for alternatives in re.findall(r'topic=~?"([^"]+)"', alert["expr"]):
            assert set(alternatives.split("|")) <= known, alert["expr"]


def test_the_dashboard_reads_the_provisioned_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    [source] = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert dashboard["uid"] and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"] and all(target["expr"] for target in panel["targets"]), panel["title"]
