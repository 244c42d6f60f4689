"""Stored first responses of POST requests that carried an `Idempotency-Key`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storage.engine import session_scope
from storage.tables import IdempotencyRecord


def find(engine: Engine, tenant: str, key: str) -> IdempotencyRecord | None:
    with session_scope(engine) as s:
        return s.get(IdempotencyRecord, (tenant, key))


def save(engine: Engine, tenant: str, key: str, request_hash: str, status: int, response: Any) -> None:
    """Keep the first response; a concurrent duplicate that lost the race is dropped."""
    try:
        with session_scope(engine) as s:
            s.add(
                IdempotencyRecord(
                    tenant_id=tenant,
                    key=key,
                    request_hash=request_hash,
                    status_code=status,
                    response=response,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        pass
