"""docs/asyncapi.yaml is what the code says, and says what the pipeline's topics carry."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import yaml

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


def test_document_covers_every_topic_of_the_ingest_flow_with_its_contract() -> None:
    document = yaml.safe_load(generator().render())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {"sync.requested", "campaign.fetched", "sync.events", "scheduler.state"}
    schemas = document["components"]["schemas"]
    assert {"SyncRequested", "CampaignFetched", "SyncEvent", "Campaign"} <= set(schemas)
    assert set(schemas["SyncRequested"]["required"]) == {"sync_id", "trigger"}
    receivers = {name for name, op in document["operations"].items() if op["action"] == "receive"}
    assert receivers == {f"ingestor.{c}" for c in ("facebook", "instagram", "google_ads", "tiktok")}
