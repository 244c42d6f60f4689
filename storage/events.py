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
from storage.engine import prepared, session_scope
from storage.tables import EventRow

# Serialises appends on PostgreSQL so events commit in cursor order and a reader that has seen
# cursor N never later finds a smaller one appear (SQLite has a single writer already).
_APPEND_LOCK = 72657302
NOTIFY_CHANNEL = "fulfillment_events"


EVENTS = EventRow.__table__  # type: ignore[attr-defined]
_INSERT = prepared(lambda insert: insert(EVENTS).on_conflict_do_nothing().returning(EVENTS.c.cursor))


def append(
    s: Session,
    tenant: str,
    type_: str,
    subject: str,
    data: dict[str, Any],
    occurred_at: datetime,
    sequence: int | None = None,
) -> Event:
    """Append an event in the caller's transaction; `sequence` defaults to the subject's next.

    With a `sequence` the write is idempotent: the event's id derives from it, so a retried write
    finds the event stored the first time and returns it unchanged. A Core INSERT, not the ORM: it
    is on every change's path.
    """
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK})"))
        # Delivered at commit: wakes the live-feed hub of every API replica at once.
        conn.execute(text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', '')"))
    if sequence is None:
        mine = (EVENTS.c.tenant_id == tenant) & (EVENTS.c.subject == subject)
        last = conn.execute(select(func.max(EVENTS.c.sequence)).where(mine)).scalar()
        sequence = (last or 0) + 1
    event = Event(
        id=event_id(tenant, subject, sequence),
        type=type_,
        tenant=tenant,
        subject=subject,
        sequence=sequence,
        cursor=0,
        occurred_at=occurred_at,
        data=data,
    )
    values = {
        "id": event.id,
        "tenant_id": tenant,
        "type": type_,
        "subject": subject,
        "sequence": sequence,
        "occurred_at": occurred_at,
        "data": data,
    }
    cursor = conn.execute(_INSERT(conn), values).scalar()
    if cursor is None:  # written before
        stored = conn.execute(select(EVENTS).where(EVENTS.c.id == event.id)).one()
        return to_event(stored)  # type: ignore[arg-type]
    return event.model_copy(update={"cursor": cursor})


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
