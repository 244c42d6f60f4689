"""Computed fulfillment options, readable by id and with a status that moves by request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from storage.engine import fetch, session_scope
from storage.tables import FulfillmentOptionsRow


def save(engine: Engine, tenant: str, options_id: str, body: dict[str, Any], now: datetime) -> None:
    """Idempotent: a retried computation stores the same answer once."""
    with session_scope(engine) as s:
        if s.get(FulfillmentOptionsRow, (tenant, options_id)) is None:
            s.add(
                FulfillmentOptionsRow(
                    tenant_id=tenant,
                    id=options_id,
                    status=body["status"],
                    body=body,
                    created_at=now,
                    updated_at=now,
                )
            )


def get(engine: Engine, tenant: str, options_id: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        row = fetch(s, FulfillmentOptionsRow, (tenant, options_id), "NOT_FOUND", "fulfillment options")
        return {**row.body, "status": row.status}


def set_status(engine: Engine, tenant: str, options_id: str, status: str, now: datetime) -> dict[str, Any]:
    with session_scope(engine) as s:
        row = fetch(s, FulfillmentOptionsRow, (tenant, options_id), "NOT_FOUND", "fulfillment options")
        row.status, row.updated_at = status, now
        return {**row.body, "status": status}
