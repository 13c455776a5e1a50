"""Docs and code agree on configuration: every setting of every service is documented in .env.example,
and .env.example sets nothing that no service reads (compose-only variables are in their own section)."""

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from demetra_common.settings import CommonSettings
from demetra_ingestor.settings import IngestorSettings
from demetra_insights.settings import InsightsSettings
from demetra_loader.settings import LoaderSettings
from demetra_query_api.settings import QueryApiSettings
from demetra_scheduler.settings import SchedulerSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
SETTINGS: list[type[BaseSettings]] = [
    CommonSettings,
    SchedulerSettings,
    IngestorSettings,
    LoaderSettings,
    QueryApiSettings,
    InsightsSettings,
]


def documented() -> dict[str, str]:
    """Variables of .env.example (set or commented out as `# NAME=`), mapped to their section."""
    variables: dict[str, str] = {}
    section = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        if heading := re.match(r"# --- (.+) ---", line):
            section = heading.group(1)
        elif assignment := re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", line):
            variables[assignment.group(1)] = section
    return variables


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda settings: settings.__name__)
def test_every_setting_is_documented_in_env_example(settings: type[BaseSettings]) -> None:
    missing = sorted(name.upper() for name in settings.model_fields if name.upper() not in documented())
    assert missing == []


def test_env_example_documents_no_variable_that_nothing_reads() -> None:
    read = {name.upper() for settings in SETTINGS for name in settings.model_fields}
    unknown = sorted(
        name
        for name, section in documented().items()
        if name not in read and not section.startswith("deploy")
    )
    assert unknown == []
