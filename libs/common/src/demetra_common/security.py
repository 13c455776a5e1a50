"""The API key check shared by every HTTP API that has write endpoints."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

API_KEY_HEADER = "X-API-Key"

_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="Required by endpoints that change state."
)


def api_key_guard(expected: SecretStr) -> Callable[[str | None], None]:
    """A FastAPI dependency that answers 401 unless the request carries the expected key."""

    def check(provided: Annotated[str | None, Depends(_header)]) -> None:
        if not provided:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=f"missing API key: send it in the {API_KEY_HEADER} header",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if not secrets.compare_digest(provided.encode(), expected.get_secret_value().encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="invalid API key",
                headers={"WWW-Authenticate": "ApiKey"},
            )

    return check
