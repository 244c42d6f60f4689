"""Computed fulfillment options, readable by id and with a status that moves by request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from storage.engine import fetch, session_scope
from storage.tables import FulfillmentOptionsRow

# One statement for every answer: compiled once, not per request (the options route's hot path).
_INSERT = FulfillmentOptionsRow.__table__.insert()  # type: ignore[attr-defined]


def save(engine: Engine, tenant: str, options_id: str, body: dict[str, Any], now: datetime) -> None:
    """One INSERT: every request has a new id, so there is nothing to look up first."""
    row = {"tenant_id": tenant, "id": options_id, "status": body["status"], "body": body}
    with engine.begin() as conn:
        conn.execute(_INSERT, {**row, "created_at": now, "updated_at": now})


def get(engine: Engine, tenant: str, options_id: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        row = fetch(s, FulfillmentOptionsRow, (tenant, options_id), "NOT_FOUND", "fulfillment options")
        return {**row.body, "status": row.status}


def move(
    engine: Engine,
    tenant: str,
    options_id: str,
    source: str,
    target: str,
    now: datetime,
    plan: str | None = None,
    **extra: Any,
) -> dict[str, Any] | None:
    """Move the options from `source` to `target` (with `extra` members in the body), only if they
    are still in `source` (and, given a `plan`, that plan is the selected one); None otherwise."""
    with session_scope(engine) as s:
        row = fetch(s, FulfillmentOptionsRow, (tenant, options_id), "NOT_FOUND", "fulfillment options")
        if row.status != source or (plan is not None and row.body.get("selectedPlanId") != plan):
            return None
        row.status, row.updated_at, row.body = target, now, {**row.body, **extra, "status": target}
        return {**row.body}
