"""Write ``docs/asyncapi.yaml``: Demetra's Kafka contracts, generated from the services' FastStream brokers.

    make docs        (or: uv run python docs/generate_asyncapi.py [--check])

The document is built from the brokers the services really run (their declared publishers and subscribers
with the contract models as schemas), with fixed settings so that it does not depend on the environment.
``--check`` exits 1 when the committed file differs from what the code says; a test does the same.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from demetra_common.contracts import CampaignDaysFetched, CampaignFetched, SyncEvent, SyncRequested
from demetra_ingestor.app import build_ingestor
from demetra_ingestor.settings import ALL, IngestorSettings
from demetra_insights.app import build_broker as insights_broker
from demetra_insights.settings import InsightsSettings
from demetra_loader.app import build_broker as loader_broker
from demetra_loader.core.records import RejectCode
from demetra_loader.settings import LoaderSettings
from demetra_query_api.app import build_broker as query_api_broker
from demetra_query_api.settings import QueryApiSettings
from demetra_scheduler.app import build_scheduler
from demetra_scheduler.settings import SchedulerSettings

DOCUMENT = Path(__file__).resolve().parent / "asyncapi.yaml"
VERSION = "1"
SERVER = "127.0.0.1:9092"
DESCRIPTION = """\
Demetra's event contracts on Apache Kafka. Every message is JSON with a `schema_version`; consumers reject
versions they do not know.

- `sync.requested` (key: sync_id) asks for a sync. The scheduler publishes one per cron slot
  (sync_id `sched-<slot>`, trigger `schedule`) and on `sync-now` (trigger `manual`); the query API for
  ad-hoc syncs (trigger `api`). Anyone may publish one by hand, e.g.
  `{"sync_id": "by-hand-1", "trigger": "manual", "channels": ["facebook"]}`.
- Each channel's ingestor (consumer group `ingestor.<channel>`) fetches the channels named in the request and
  publishes every campaign on `campaign.fetched` (key: campaign_id) and its progress on `sync.events`
  (key: sync_id): `fetch.started`, then `fetch.completed` with the exact count, or `fetch.failed`.
- The loader (consumer group `loader`) loads `campaign.fetched` into PostgreSQL, one transaction per batch:
  schema 2 (`CampaignDaysFetched`) as one row per campaign and day, newest `fetched_at` winning, with the
  campaign's totals derived from its days; schema 1 (`CampaignFetched`, a lifetime snapshot) as the
  campaign's row. It records every `sync.requested` and `sync.events` message in the events table (group
  `loader.events`). A `campaign.fetched` message it cannot load (not JSON, valid under neither schema,
  refused by the database) goes, with its original key and value, to `campaign.fetched.dlq`; the headers
  `reason`, `reason_code`, `source_topic`, `source_partition` and `source_offset` say why and where it came
  from.
- When a newer fetch changes a past day's metric, the loader records it and, after the transaction commits,
  publishes `metric.restated` (key: campaign_id), one event per (campaign, day, metric, fetched_at), at least
  once (its event_id derives from those four).
- When every campaign a sync fetched for a channel is loaded (its loads reach the fetch.completed count), the
  loader announces it on `channel.loaded` (key: sync_id; event_id derived from (sync_id, channel), at least
  once).
- The insights service (consumer group `insights`) analyses the channel on each `channel.loaded`, and the
  restated days on `metric.restated`; it publishes each version of an insight on `insight.detected` (opened
  or changed) or `insight.resolved` (key: campaign_id, the channel for a channel-level insight; event_id
  derived from (insight_id, version)).
- Event ids are derived from the sync, so a re-run sync republishes identical messages; consumers dedup on
  `event_id`.
- `scheduler.state` is the scheduler's compacted, durable state (paused or running, last requested slot).
- A deployment with `KAFKA_TOPIC_PREFIX` puts it in front of every topic and consumer group named here (this
  document is generated without one).
"""


# The loader hands its handlers the raw records (it validates the bytes against the contracts itself), so
# FastStream cannot see what they carry: name the contracts here (campaign.fetched: either schema).
RAW_SUBSCRIBERS: dict[str, tuple[type[BaseModel], ...]] = {
    "loader: campaign.fetched:SubscribeMessage": (CampaignFetched, CampaignDaysFetched),
    "loader: sync.requested, sync.events:sync.requested:SubscribeMessage": (SyncRequested,),
    "loader: sync.requested, sync.events:sync.events:SubscribeMessage": (SyncEvent,),
}
REFS = "#/components/schemas/{model}"
EMPTY_PAYLOAD = "#/components/schemas/EmptyPayload"
DEAD_LETTER = "loader: campaign.fetched.dlq:Message"
DEAD_LETTER_HEADERS = {
    "reason": "Why the message was rejected: `<reason_code>: <detail>`.",
    "reason_code": "One of " + ", ".join(f"`{code.value}`" for code in RejectCode) + ".",
    "source_topic": "The topic the message was read from (campaign.fetched, with any prefix).",
    "source_partition": "Its partition there.",
    "source_offset": "Its offset there.",
}


def _describe_raw_messages(components: dict[str, Any]) -> None:
    messages, schemas = components["messages"], components["schemas"]
    for name, models in RAW_SUBSCRIBERS.items():
        refs = [{"$ref": REFS.format(model=model.__name__)} for model in models]
        messages[name]["payload"] = refs[0] if len(refs) == 1 else {"oneOf": refs}
        for model in models:  # a contract no publisher declares (an older schema still accepted)
            schema = model.model_json_schema(ref_template=REFS)
            for definition, value in schema.pop("$defs", {}).items():
                schemas.setdefault(definition, value)
            schemas.setdefault(model.__name__, schema)
    if all(message["payload"] != {"$ref": EMPTY_PAYLOAD} for message in messages.values()):
        schemas.pop(EMPTY_PAYLOAD.rsplit("/", 1)[-1], None)
    dead_letter = messages[DEAD_LETTER]
    payload = schemas[unquote(dead_letter["payload"]["$ref"].rsplit("/", 1)[-1])]
    payload["description"] = (
        "The rejected message's original value, byte for byte; its key is the original key. Empty, with "
        "the header value_dropped, when the value and the reason headers together exceed Kafka's message "
        "size limit."
    )
    dead_letter["headers"] = {
        "type": "object",
        "properties": {
            **{name: {"type": "string", "description": text} for name, text in DEAD_LETTER_HEADERS.items()},
            "value_dropped": {"type": "string", "description": "Present only when the value was dropped."},
        },
        "required": list(DEAD_LETTER_HEADERS),
        "additionalProperties": {"type": "string", "description": "The original message's own headers."},
    }


def render() -> str:
    """The AsyncAPI 3 document of the pipeline's topics, as YAML."""
    # Fixed settings: the document describes the contracts, not this machine's environment.
    fixed = {"kafka_topic_prefix": "", "kafka_bootstrap_servers": SERVER}
    brokers = (
        build_scheduler(SchedulerSettings.model_validate(fixed)).broker,
        build_ingestor(IngestorSettings.model_validate({**fixed, "channel": ALL})).broker,
        loader_broker(LoaderSettings.model_validate(fixed)),
        insights_broker(InsightsSettings.model_validate(fixed)),
        query_api_broker(QueryApiSettings.model_validate(fixed)),
    )
    specification = AsyncAPI(
        *brokers, title="Demetra event contracts", version=VERSION, description=DESCRIPTION
    ).to_specification()
    document = specification.to_jsonable()
    # FastStream keeps publishers and subscribers in WeakSets: sort the named sections for a stable file.
    document["channels"] = dict(sorted(document["channels"].items()))
    document["operations"] = dict(sorted(document["operations"].items()))
    components = document["components"]
    _describe_raw_messages(components)
    for section in ("messages", "schemas"):
        components[section] = dict(sorted(components[section].items()))
    # FastStream's to_yaml() quotes multi-line text into one escaped line; write it as readable blocks.
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed document is stale")
    args = parser.parse_args()
    document = render()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != document:
            sys.exit(f"{DOCUMENT} is stale: run `make docs`")
        print(f"{DOCUMENT} is current")
        return
    DOCUMENT.write_text(document)
    print(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    main()
