"""docs/asyncapi.yaml is what the code says, is valid AsyncAPI 3, and says what every topic carries."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import jsonschema
import yaml

from demetra_loader.core.dead_letters import DeadLetter
from demetra_loader.core.records import RejectCode, Rejection

REPO = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_asyncapi", REPO / "docs" / "generate_asyncapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_asyncapi_document_is_current() -> None:
    committed = (REPO / "docs" / "asyncapi.yaml").read_text()
    assert generator().render() == committed, "docs/asyncapi.yaml is stale: run `make docs` and commit it"


def test_document_is_valid_asyncapi_3() -> None:
    schema = json.loads((REPO / "tests" / "deploy" / "schemas" / "asyncapi-3.0.0.json").read_text())
    document = yaml.safe_load(generator().render())
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(document)
    ]
    assert errors == []


def test_document_covers_every_topic_with_its_contract() -> None:
    document = yaml.safe_load(generator().render())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {
        "sync.requested",
        "campaign.fetched",
        "sync.events",
        "campaign.fetched.dlq",
        "metric.restated",
        "channel.loaded",
        "insight.detected",
        "insight.resolved",
        "scheduler.state",
        "sync.fetched",
    }
    schemas = document["components"]["schemas"]
    assert {
        "SyncRequested",
        "CampaignFetched",
        "SyncEvent",
        "Campaign",
        "ChannelLoaded",
        "ChannelFetched",
        "InsightChanged",
    } <= set(schemas)
    assert set(schemas["SyncRequested"]["required"]) == {"sync_id", "trigger"}
    receivers = {name for name, op in document["operations"].items() if op["action"] == "receive"}
    assert receivers == {f"ingestor.{c}" for c in ("facebook", "instagram", "google_ads", "tiktok")} | {
        "loader: campaign.fetched",
        "loader: sync.requested, sync.events:sync.requestedSubscribe",
        "loader: sync.requested, sync.events:sync.eventsSubscribe",
        "insights: channel.loaded",
        "insights: metric.restated",
    }
    # Every message names its contract: none is documented as an empty payload.
    payloads = [message["payload"] for message in document["components"]["messages"].values()]
    assert all(payload.get("$ref") != "#/components/schemas/EmptyPayload" for payload in payloads)


class _Record:
    topic, partition, offset, key, value, timestamp = "campaign.fetched", 4, 1234, b"k", b"{", 0
    headers = (("trace", b"abc"),)


def test_dead_letter_headers_are_the_ones_the_loader_writes() -> None:
    document = yaml.safe_load(generator().render())
    documented = document["components"]["messages"]["loader: campaign.fetched.dlq:Message"]["headers"]
    written = DeadLetter(_Record(), Rejection(RejectCode.INVALID_JSON, "not JSON")).headers()
    assert set(documented["required"]) == set(written) - {"trace"}  # the original headers travel along
    assert {"trace", *documented["required"]} == set(written)
