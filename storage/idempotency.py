"""Idempotency keys, claimed before the request runs: the first request with a key runs, a retry
replays its answer, and a request arriving while the first is still running is told so.

A record with `status_code` 0 is a claim in progress. A claim older than `STALE` belongs to a request
that died mid-way (its process crashed): the next retry takes it over and runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage.engine import session_scope
from storage.tables import IdempotencyRecord

PENDING = 0
STALE = timedelta(minutes=2)


@dataclass(frozen=True)
class Claim:
    """`won`: this request runs. Otherwise the stored record (`in_progress` when it has no answer yet)."""

    won: bool
    request_hash: str = ""
    status_code: int = PENDING
    response: Any = None

    @property
    def in_progress(self) -> bool:
        return not self.won and self.status_code == PENDING


def claim(engine: Engine, tenant: str, key: str, request_hash: str, now: datetime) -> Claim:
    try:
        with session_scope(engine) as s:
            s.add(
                IdempotencyRecord(
                    tenant_id=tenant,
                    key=key,
                    request_hash=request_hash,
                    status_code=PENDING,
                    response={},
                    created_at=now,
                )
            )
        return Claim(won=True)
    except IntegrityError:
        pass
    with session_scope(engine) as s:
        row = s.get(IdempotencyRecord, (tenant, key))
        if row is None:  # released meanwhile: try once more
            return claim(engine, tenant, key, request_hash, now)
        stored = Claim(False, row.request_hash, row.status_code, row.response)
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        if stored.in_progress and row.request_hash == request_hash and now - created > STALE:
            taken = s.exec(  # one of several retries takes the dead claim over
                update(IdempotencyRecord)
                .where(
                    col(IdempotencyRecord.tenant_id) == tenant,
                    col(IdempotencyRecord.key) == key,
                    col(IdempotencyRecord.created_at) == row.created_at,
                )
                .values(created_at=now)
            )
            if taken.rowcount == 1:
                return Claim(won=True)
        return stored


def complete(engine: Engine, tenant: str, key: str, status: int, response: Any) -> None:
    with session_scope(engine) as s:
        s.exec(
            update(IdempotencyRecord)
            .where(col(IdempotencyRecord.tenant_id) == tenant, col(IdempotencyRecord.key) == key)
            .values(status_code=status, response=response)
        )


def release(engine: Engine, tenant: str, key: str) -> None:
    """Give a claim up (the request failed before it had an answer), so a retry runs it again."""
    with session_scope(engine) as s:
        s.exec(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.tenant_id) == tenant,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.status_code) == PENDING,
            )
        )
