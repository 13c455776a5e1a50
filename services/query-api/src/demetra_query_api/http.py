"""HTTP helpers shared by the routes: the cached read path (with its ETag, 304 and Cache-Control), response
compression, orjson responses, `next` links, 422s that name the field.

HTTP caching, for browsers, CDNs and proxies:

* every 200 of a read route carries a weak ``ETag`` derived from its body (``cache.Rendered``), so equal
  bodies have equal tags on every worker; a GET whose ``If-None-Match`` names it (weak comparison, or
  ``*``) answers ``304 Not Modified`` with no body, even when the data was read again to know;
* every read route declares its ``Cache-Control`` once, as the ``Freshness`` it passes to ``cached_read``;
* bodies of ``COMPRESS_MIN_BYTES`` or more are compressed (brotli when the client accepts ``br``, else
  gzip) by ``brotli-asgi``'s middleware; streamed bodies are compressed chunk by chunk (each flushed, so a
  stream still streams) and small ones are left as they are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar, get_origin

import orjson
from brotli_asgi import BrotliMiddleware
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from demetra_query_api.cache import Rendered
from demetra_query_api.cursors import InvalidCursor
from demetra_query_api.deps import AppContext, context_of
from demetra_query_api.ranges import InvalidRange

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def dump_json(content: Any) -> bytes:
    """``content`` as JSON bytes, ``JSON_OPTIONS`` honoured. Dumped without them first: OPT_NON_STR_KEYS
    costs ~45% more on a body of str keys only (13 us of a 90-point series), for the same bytes; a body
    with another key (an enum, a date) fails that first try at that key and is dumped again with them."""
    try:
        return orjson.dumps(content)
    except orjson.JSONEncodeError:
        return orjson.dumps(content, option=JSON_OPTIONS)


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (dates, datetimes, enums and dataclasses natively)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=JSON_OPTIONS)


def json_response(content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Serialise with orjson straight to bytes, skipping response-model validation (the hot path)."""
    return Response(
        orjson.dumps(content, option=JSON_OPTIONS),
        status_code=status_code,
        headers=dict(headers) if headers else None,
        media_type="application/json",
    )


class Freshness(StrEnum):
    """How long a read route's response may be reused without asking again: its ``Cache-Control``."""

    # What syncs load (campaigns, daily rows, the summary, restatements, insights): it changes when a sync
    # loads, hourly by default, and the summary lags the rows by seconds anyway. 10 s of reuse, then a
    # conditional GET that is mostly a 304.
    LOADED = "max-age=10"
    # Sync status, which moves every second while a sync runs: stored, but revalidated on every use.
    LIVE = "no-cache"


COMPRESS_MIN_BYTES = 1024  # below about a packet, compression saves nothing worth its CPU


def install_compression(app: FastAPI) -> None:
    """brotli (``Accept-Encoding: br``) or gzip for bodies of COMPRESS_MIN_BYTES or more."""
    app.add_middleware(BrotliMiddleware, quality=4, minimum_size=COMPRESS_MIN_BYTES, gzip_fallback=True)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison of ``etag`` with an If-None-Match list (``*`` matches any)."""
    opaque = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


async def cached_read(
    request: Request, content: Callable[[AppContext], Awaitable[Any]], freshness: Freshness
) -> Response:
    """The read routes' fast path: a 200 JSON response of ``content(context)`` with its ETag and
    ``freshness`` as Cache-Control, or a 304 when the request's If-None-Match names that ETag. Served from
    the response micro-cache when the same URL was computed lately (then ``content`` does not run: no
    parsing, no query, no hashing).

    Hot routes take no FastAPI dependencies (resolving them cost more CPU than the query itself) and skip
    response-model validation: ``content`` parses the request itself and orjson renders what it returns.
    """
    context = context_of(request)

    async def render() -> Rendered:
        return Rendered.of(dump_json(await content(context)))

    key = request.scope["path"].encode() + b"?" + request.scope["query_string"]
    rendered = await context.cache.get(key, render)
    headers = {"ETag": rendered.etag, "Cache-Control": freshness.value}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, headers=headers, media_type="application/json")


def next_link(request: Request, cursor: str | None) -> str | None:
    """The same request (path and every query parameter but cursor, in order) positioned at ``cursor``."""
    if cursor is None:
        return None
    # Cursors are base64url, safe in a URL as they are; the other parameters are kept byte for byte.
    kept = [
        part for part in request.scope["query_string"].split(b"&") if part and not part.startswith(b"cursor=")
    ]
    query = b"&".join([*kept, b"cursor=" + cursor.encode()]).decode("latin-1")
    return f"{request.scope.get('root_path', '')}{request.scope['path']}?{query}"


def page_content(request: Request, items: Any, limit: int, next_cursor: str | None) -> dict[str, Any]:
    """The body of a page of a list: its items, the size asked for and where the next page starts."""
    return {
        "items": items,
        "limit": limit,
        "next_cursor": next_cursor,
        "next": next_link(request, next_cursor),
    }


C = TypeVar("C")


def decode_cursor(decode: Callable[[str], C], cursor: str | None) -> C | None:
    """``decode(cursor)`` if a cursor was given; one it did not issue is a 422 on the ``cursor`` parameter."""
    if cursor is None:
        return None
    try:
        return decode(cursor)
    except InvalidCursor as exc:
        raise invalid("query", "cursor", str(exc), cursor) from exc


def invalid(location: str, field: str, message: str, value: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's own format, naming the field, for checks made after parsing."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (location, field), "msg": message, "input": value}]
    )


P = ParamSpec("P")
R = TypeVar("R")


def checked_range(location: str, rule: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``rule(...)``, one of the date-range rules of ``ranges``; a range it refuses is a 422 on the field
    it names."""
    try:
        return rule(*args, **kwargs)
    except InvalidRange as exc:
        value = exc.value.isoformat() if exc.value else None
        raise invalid(location, exc.field, str(exc), value) from exc


# ------------------------------------------------------------------------------------- query models
#
# FastAPI's own query-parameter models cost ~0.35 ms of CPU per request on this version (per-field
# introspection on every call), more than the database query itself. ``parse_query`` validates the whole
# query string with one pydantic call instead, and ``query_parameters`` documents the same model in OpenAPI.

M = TypeVar("M", bound=BaseModel)


@lru_cache(maxsize=32)
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, info in model.model_fields.items() if get_origin(info.annotation) is list)


def parse_query(model: type[M], request: Request) -> M:
    """Validate the request's query string into ``model``; a 422 names the offending parameter."""
    repeatable = _list_fields(model)
    data: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in repeatable:
            data.setdefault(key, []).append(value)
        else:
            data[key] = value  # a repeated single-valued parameter: the last one wins, as in FastAPI
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


def _inline(node: Any, definitions: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` describing ``model``'s fields as query parameters."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    parameters = []
    for name, property_schema in schema["properties"].items():
        inlined = _inline(property_schema, definitions)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if "description" in inlined:
            parameter["description"] = inlined["description"]
        parameter["schema"] = inlined
        if name in _list_fields(model):
            parameter["style"], parameter["explode"] = "form", True
        parameters.append(parameter)
    return {"parameters": parameters}
