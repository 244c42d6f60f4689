"""Session read model and revision trail, written together in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from domain.events import Event, SessionEventData
from domain.process import CHANGE_ACTION
from domain.session import Revision, SessionChange, SessionView
from storage import events
from storage.engine import prepared, session_scope
from storage.tables import EventRow, SessionRow

SESSIONS = SessionRow.__table__  # type: ignore[attr-defined]


def _upsert(insert: Any) -> Any:
    """The read-model row, written unless a newer revision is there already."""
    statement = insert(SESSIONS)
    return statement.on_conflict_do_update(
        index_elements=["tenant_id", "id"],
        set_={
            c.name: statement.excluded[c.name] for c in SESSIONS.columns if c.name not in ("tenant_id", "id")
        },
        where=SESSIONS.c.revision < statement.excluded.revision,
    )


_UPSERT = prepared(_upsert)


def record_change(engine: Engine, change: SessionChange) -> Event:
    """Write the change's event (the revision trail is read from the log) and the read-model row together.

    Idempotent: a retried write of the same revision changes nothing and returns the event written
    the first time; an older revision never overwrites a newer read-model row. Core statements, not
    the ORM: this runs for every change of every session.
    """
    view, rev = change.view, change.revision
    with session_scope(engine) as s:
        appended = events.append(
            s,
            rev.tenant,
            _event_type(rev),
            rev.session_id,
            _event_data(view, rev).model_dump(mode="json"),
            rev.at,
            sequence=rev.revision + 1,
        )
        conn = s.connection()
        conn.execute(_UPSERT(conn), {"tenant_id": rev.tenant, **_row_fields(view)})
    return appended


def _event_type(rev: Revision) -> str:
    if rev.revision == 0:
        return "session.created"
    return "session.changed" if rev.action == CHANGE_ACTION else "session.status_changed"


def _event_data(view: SessionView, rev: Revision) -> SessionEventData:
    return SessionEventData(
        session_id=view.id,
        cart_id=view.cart_id,
        reference=view.reference,
        process_type=view.process_type,
        process_version=view.process_version,
        revision=rev.revision,
        action=rev.action,
        from_=rev.from_,
        to=rev.to,
        status=view.status,
        allowed_actions=view.allowed_actions,
        terminal=view.terminal,
        actor=rev.actor,
        comment=rev.comment,
        data=rev.data,
    )


def _row_fields(view: SessionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "process_type": view.process_type,
        "process_version": view.process_version,
        "cart_id": view.cart_id,
        "reference": view.reference,
        "status": view.status,
        "terminal": view.terminal,
        "revision": view.revision,
        "allowed_actions": view.allowed_actions,
        "context": view.context,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


def get_view(engine: Engine, tenant: str, session_id: str) -> SessionView | None:
    with session_scope(engine) as s:
        row = s.get(SessionRow, (tenant, session_id))
    return _view(row) if row else None


def _view(row: SessionRow) -> SessionView:
    return SessionView.model_validate(row.model_dump(exclude={"tenant_id"}))


def list_sessions(
    engine: Engine,
    tenant: str,
    *,
    status: str | None = None,
    cart_id: str | None = None,
    process_type: str | None = None,
    reference: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SessionView], int]:
    where = [SessionRow.tenant_id == tenant]
    if reference:
        where.append(SessionRow.reference == reference)
    if status:
        where.append(SessionRow.status == status)
    if cart_id:
        where.append(SessionRow.cart_id == cart_id)
    if process_type:
        where.append(SessionRow.process_type == process_type)
    with session_scope(engine) as s:
        total = s.exec(select(func.count()).select_from(SessionRow).where(*where)).one()
        rows = s.exec(
            select(SessionRow)
            .where(*where)
            .order_by(col(SessionRow.created_at).desc(), col(SessionRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
    return [_view(r) for r in rows], total


def open_at_locations(
    engine: Engine, tenant: str, types: Sequence[str], exclude: str | None = None
) -> dict[tuple[str, str, str], int]:
    """Open (not terminal) sessions of the process `types` that name a `context.locationRef`,
    counted by (location, process type, status): what each location has queued."""
    ref = SessionRow.context["locationRef"].as_string()
    with session_scope(engine) as s:
        rows = s.exec(
            select(ref, SessionRow.process_type, SessionRow.status, func.count())
            .where(SessionRow.tenant_id == tenant, ~col(SessionRow.terminal), ref.is_not(None))
            .where(col(SessionRow.process_type).in_(types), SessionRow.id != (exclude or ""))
            .group_by(ref, SessionRow.process_type, SessionRow.status)
        ).all()
    return {(str(location), str(type_), str(status)): int(n) for location, type_, status, n in rows}


SESSION_EVENTS = ("session.created", "session.status_changed", "session.changed")


def cart_revisions(
    engine: Engine, tenant: str, cart_id: str, limit: int = 500, offset: int = 0
) -> list[Revision]:
    """Every change of every session of the cart, oldest first, read from the event log."""
    with session_scope(engine) as s:
        ids = s.exec(
            select(SessionRow.id).where(SessionRow.tenant_id == tenant, SessionRow.cart_id == cart_id)
        ).all()
    return _revisions(engine, tenant, list(ids), limit, offset)


def session_revisions(engine: Engine, tenant: str, session_id: str, limit: int = 500) -> list[Revision]:
    """Every change of one session, oldest first."""
    return _revisions(engine, tenant, [session_id], limit, 0)


def _revisions(engine: Engine, tenant: str, ids: list[str], limit: int, offset: int) -> list[Revision]:
    if not ids:
        return []
    with session_scope(engine) as s:
        rows = s.exec(
            select(EventRow)
            .where(
                EventRow.tenant_id == tenant,
                col(EventRow.subject).in_(ids),
                col(EventRow.type).in_(SESSION_EVENTS),
            )
            .order_by(col(EventRow.cursor))
            .offset(offset)
            .limit(limit)
        ).all()
    revisions = []
    for row in rows:
        data = SessionEventData.model_validate(row.data)
        revisions.append(
            Revision(
                tenant=tenant,
                session_id=data.session_id,
                cart_id=data.cart_id,
                revision=data.revision,
                action=data.action,
                from_=data.from_,
                to=data.to,
                actor=data.actor,
                comment=data.comment,
                data=data.data,
                at=row.occurred_at,
            )
        )
    return revisions
