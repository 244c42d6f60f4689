"""The event log: appended inside the transaction of the change it describes, read by cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, text
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from domain.events import Event
from domain.ids import event_id
from storage.engine import session_scope
from storage.tables import EventRow

# Serialises appends on PostgreSQL so events commit in cursor order and a reader that has seen
# cursor N never later finds a smaller one appear (SQLite has a single writer already).
_APPEND_LOCK = 72657302
NOTIFY_CHANNEL = "fulfillment_events"


def append(
    s: Session,
    tenant: str,
    type_: str,
    subject: str,
    data: dict[str, Any],
    occurred_at: datetime,
    sequence: int | None = None,
) -> Event:
    """Append an event in the caller's transaction; `sequence` defaults to the subject's next."""
    if s.connection().dialect.name == "postgresql":
        s.exec(text(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK})"))  # type: ignore[call-overload]
        # Delivered at commit: wakes the live-feed hub of every API replica at once.
        s.exec(text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"))  # type: ignore[call-overload]
    if sequence is None:
        last = s.exec(
            select(func.max(EventRow.sequence)).where(
                EventRow.tenant_id == tenant, EventRow.subject == subject
            )
        ).one()
        sequence = (last or 0) + 1
    row = EventRow(
        id=event_id(tenant, subject, sequence),
        tenant_id=tenant,
        type=type_,
        subject=subject,
        sequence=sequence,
        occurred_at=occurred_at,
        data=data,
    )
    s.add(row)
    s.flush()
    return to_event(row)


def to_event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        tenant=row.tenant_id,
        subject=row.subject,
        sequence=row.sequence,
        cursor=row.cursor or 0,
        occurred_at=row.occurred_at,
        data=row.data,
    )


def list_events(
    engine: Engine,
    tenant: str,
    *,
    after: int = 0,
    types: list[str] | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[Event]:
    """Events after a cursor, oldest first; `types` entries may be families such as `session.*`."""
    query = select(EventRow).where(EventRow.tenant_id == tenant, col(EventRow.cursor) > after)
    if subject:
        query = query.where(EventRow.subject == subject)
    if since:
        query = query.where(col(EventRow.occurred_at) >= since)
    if types:
        exact = [t for t in types if not t.endswith(".*")]
        families = [t[:-1] for t in types if t.endswith(".*")]
        clauses: list[ColumnElement[bool]] = [col(EventRow.type).in_(exact)] if exact else []
        clauses += [col(EventRow.type).startswith(f) for f in families]
        query = query.where(or_(*clauses))
    with session_scope(engine) as s:
        rows = s.exec(query.order_by(col(EventRow.cursor)).limit(limit)).all()
    return [to_event(r) for r in rows]


def last_cursor(engine: Engine) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.max(EventRow.cursor))).one() or 0


def after(engine: Engine, cursor: int, limit: int = 500) -> list[Event]:
    """Events of every tenant after `cursor`, for the live-feed hub that tails the log."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(EventRow).where(col(EventRow.cursor) > cursor).order_by(col(EventRow.cursor)).limit(limit)
        )
        return [to_event(r) for r in rows]
