"""Session read model and revision trail, written together in one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from domain.session import Revision, SessionChange, SessionView
from storage.engine import session_scope
from storage.tables import SessionRevisionRow, SessionRow


def record_change(engine: Engine, change: SessionChange) -> None:
    """Idempotent: a retried write of the same revision changes nothing; an older one never wins."""
    view, rev = change.view, change.revision
    with session_scope(engine) as s:
        if s.get(SessionRevisionRow, (rev.tenant, rev.session_id, rev.revision)) is None:
            s.add(
                SessionRevisionRow(
                    tenant_id=rev.tenant,
                    session_id=rev.session_id,
                    revision=rev.revision,
                    cart_id=rev.cart_id,
                    action=rev.action,
                    from_state=rev.from_,
                    to_state=rev.to,
                    actor=rev.actor,
                    comment=rev.comment,
                    data=rev.data,
                    at=rev.at,
                )
            )
        row = s.get(SessionRow, (rev.tenant, view.id))
        if row is None:
            s.add(SessionRow(tenant_id=rev.tenant, **_row_fields(view)))
        elif row.revision < view.revision:
            for name, value in _row_fields(view).items():
                setattr(row, name, value)


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
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[SessionView], int]:
    where = [SessionRow.tenant_id == tenant]
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


def cart_revisions(engine: Engine, tenant: str, cart_id: str) -> list[Revision]:
    with session_scope(engine) as s:
        rows = s.exec(
            select(SessionRevisionRow)
            .where(SessionRevisionRow.tenant_id == tenant, SessionRevisionRow.cart_id == cart_id)
            .order_by(
                col(SessionRevisionRow.at),
                col(SessionRevisionRow.session_id),
                col(SessionRevisionRow.revision),
            )
        ).all()
    return [
        Revision(
            tenant=r.tenant_id,
            session_id=r.session_id,
            cart_id=r.cart_id,
            revision=r.revision,
            action=r.action,
            from_=r.from_state,
            to=r.to_state,
            actor=r.actor,
            comment=r.comment,
            data=r.data,
            at=r.at,
        )
        for r in rows
    ]
