"""An HTTP API against its own OpenAPI document: schemathesis's whole run, in this process.

``check_conformance(app, ...)`` is what ``schemathesis run`` does (the examples, coverage, fuzzing and
stateful phases, positive and negative data, every check the installed version has, the API key from the
schema's security scheme) against an ASGI app, with a fixed seed. It returns what was sent and what failed;
the caller asserts. Two failures are dropped, each for a reason the schema itself states:

- a schema-valid request refused with a 422 whose every error is a ``value_error`` (a rule's, not a type,
  format or bound error) naming a field whose description documents a rule JSON Schema cannot express,
  with "(else 422)" (a cursor the API issued, date_to not before date_from, ...): the rule is the contract,
  and the 422 names the field;
- "created resource not found" after an operation whose only success is 202 Accepted: the request was
  accepted for processing (RFC 9110), not done, so the resource appears later.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import EnsureResourceAvailability, RejectedPositiveData
from schemathesis.python import asgi

# The phrase with which a field's description documents a rule the schema cannot state.
DOCUMENTED_RULE = "(else 422)"


@dataclass
class ConformanceReport:
    """What a run sent (cases per phase, statuses received) and the failures it kept."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)

    @property
    def total_cases(self) -> int:
        return sum(self.cases.values())

    def assert_conforms(self, *, min_cases: int) -> None:
        """No failure kept; at least ``min_cases`` cases; served, refused, writes accepted, writes without
        the key refused."""
        assert not self.failures, "\n".join(self.failures)
        assert self.total_cases >= min_cases, self.summary()
        assert all(self.statuses[status] > 0 for status in (200, 202, 401, 422)), self.summary()

    def summary(self) -> str:
        return (
            f"{self.total_cases} cases {dict(self.cases)}; statuses {dict(sorted(self.statuses.items()))}; "
            f"dropped as documented {dict(self.dropped)}"
        )


def _resolve(node: Any, document: Mapping[str, Any]) -> Any:
    reference = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(reference, str) and reference.startswith("#/"):
        target: Any = document
        for part in reference[2:].split("/"):
            target = target[part]
        return _resolve(target, document)
    return node


def _properties(schema: Any, document: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every property a (possibly composed, referenced) body schema declares."""
    schema = _resolve(schema, document)
    if not isinstance(schema, dict):
        return
    for name, value in schema.get("properties", {}).items():
        yield name, _resolve(value, document)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(keyword, []):
            yield from _properties(branch, document)


def documented_rules(document: Mapping[str, Any]) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(METHOD, path template) -> the (location, field) pairs whose description documents a 422 rule."""
    rules: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = [_resolve(parameter, document) for parameter in operation.get("parameters", [])]
            fields = {
                (parameter["in"], parameter["name"])
                for parameter in parameters
                if DOCUMENTED_RULE in parameter.get("description", "")
            }
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            fields |= {
                ("body", name)
                for name, schema in _properties(body.get("schema", {}), document)
                if DOCUMENTED_RULE in str(schema.get("description", ""))
            }
            rules[(method.upper(), path)] = fields
    return rules


def _named_fields(response: Any) -> set[tuple[str, str]] | None:
    """The (location, field) pairs a FastAPI 422 body names; None if any error names no single field or is
    not a rule's ``value_error`` (a type, format or bound error is the schema's to prevent)."""
    try:
        errors = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return None
    named = set()
    for error in errors if isinstance(errors, list) else [None]:
        if not isinstance(error, dict) or error.get("type") != "value_error":
            return None
        location = error.get("loc")
        if not isinstance(location, list) or len(location) < 2:
            return None
        named.add((str(location[0]), str(location[1])))
    return named


def check_conformance(
    app: Any,
    *,
    api_key: str | None,
    seed: int,
    max_examples: int,
    openapi_path: str = "/openapi.json",
) -> ConformanceReport:
    """Run schemathesis over ``app`` (its lifespan included, stopped at the end) and report."""
    settings: dict[str, Any] = {
        "seed": seed,
        # No example database: a run depends on the seed alone, never on what an earlier run stored.
        "generation": {"mode": "all", "max-examples": max_examples, "database": "none"},
        "workers": 1,
    }
    if api_key is not None:
        settings["auth"] = {"openapi": {"APIKeyHeader": {"api_key": api_key}}}
    schema = schemathesis.openapi.from_asgi(openapi_path, app, config=SchemathesisConfig.from_dict(settings))
    document = schema.raw_schema
    rules = documented_rules(document)
    accepted_only = {
        f"{method.upper()} {path}"
        for path, operations in document.get("paths", {}).items()
        for method, operation in operations.items()
        if {code for code in operation.get("responses", {}) if code.startswith("2")} == {"202"}
    }
    report = ConformanceReport()

    @schema.hook("filter_failure")
    def drop_documented(context: Any, failure: Failure, case: Any, response: Any) -> bool:
        if isinstance(failure, RejectedPositiveData) and response.status_code == 422:
            named = _named_fields(response)
            if named and named <= rules.get((case.method.upper(), case.operation.path), set()):
                report.dropped["documented 422 rule"] += 1
                return False
        if isinstance(failure, EnsureResourceAvailability) and failure.created_with in accepted_only:
            report.dropped["202 Accepted, not yet created"] += 1
            return False
        return True

    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _record(report, event)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                report.failures.append(f"error: {event!r}")
    finally:
        asgi.shutdown_lifespans()
    return report


def _record(report: ConformanceReport, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    report.cases[str(event.phase.value)] += len(recorder.cases)
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            report.statuses[interaction.response.status_code] += 1
    for checks in recorder.checks.values():
        for check in checks:
            if check.failure_info is not None:
                failure = check.failure_info.failure
                message = re.sub(r"\s+", " ", failure.message)[:500]
                report.failures.append(
                    f"{recorder.label}: {check.name}: {failure.title}: {message}\n"
                    f"    {check.failure_info.code_sample}"
                )
