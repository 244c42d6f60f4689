"""Change proposals as their workflows record them: one row each, and their events."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from domain.changes import PROPOSED, ChangeRecord, ChangeView, event_data
from domain.errors import NotFound
from domain.events import Event
from storage import events
from storage.engine import dialect_insert, session_scope
from storage.tables import ChangeProposalRow

PROPOSALS = ChangeProposalRow.__table__  # type: ignore[attr-defined]


def _insert_missing(s: Session, tenant: str, view: ChangeView) -> None:
    """The row as first written; a row already there (the API's, the workflow's) is left alone,
    whoever comes second. It takes the write lock, so what the transaction reads next is current."""
    conn = s.connection()
    conn.execute(
        dialect_insert(conn)(PROPOSALS)
        .values(
            id=view.id,
            tenant_id=tenant,
            cart_id=view.cart_id,
            session_id=view.session_id,
            status=view.status,
            created_at=view.created_at,
            body=view.model_dump(mode="json", by_alias=True),
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


def save_proposed(engine: Engine, tenant: str, view: ChangeView) -> None:
    """The API's write of a proposal it started, so a decision sent at once finds it; the workflow's
    own record (with the event) follows, and nothing here overwrites a later one."""
    with session_scope(engine) as s:
        _insert_missing(s, tenant, view)


def record(engine: Engine, rec: ChangeRecord) -> Event:
    """The proposal's row and its event (`change.proposed`, then `change.<end>`), in one transaction;
    idempotent by the event's sequence, so a retried activity writes once."""
    view = rec.view
    with session_scope(engine) as s:
        _insert_missing(s, rec.tenant, view)
        row = s.get(ChangeProposalRow, view.id, with_for_update=True)
        if row is not None and row.status == PROPOSED and view.status != PROPOSED:
            row.status, row.body = view.status, view.model_dump(mode="json", by_alias=True)
        return events.append(
            s,
            rec.tenant,
            f"change.{view.status.lower()}",
            view.id,
            event_data(view),
            view.decided_at or view.created_at,
            sequence=rec.sequence,
        )


def get(engine: Engine, tenant: str, change_id: str) -> ChangeView:
    with session_scope(engine) as s:
        row = s.get(ChangeProposalRow, change_id)
        if row is None or row.tenant_id != tenant:
            raise NotFound.one("CHANGE_NOT_FOUND", f"no change proposal {change_id!r}", "changeId")
        return ChangeView.model_validate(row.body)


def of_cart(
    engine: Engine, tenant: str, cart_id: str, limit: int, offset: int, status: str | None = None
) -> list[ChangeView]:
    """The cart's proposals (in `status`, when given), newest first."""
    query = select(ChangeProposalRow).where(
        ChangeProposalRow.tenant_id == tenant, ChangeProposalRow.cart_id == cart_id
    )
    if status is not None:
        query = query.where(ChangeProposalRow.status == status)
    with session_scope(engine) as s:
        rows = s.exec(
            query.order_by(col(ChangeProposalRow.created_at).desc(), col(ChangeProposalRow.id).desc())
            .limit(limit)
            .offset(offset)
        )
        return [ChangeView.model_validate(r.body) for r in rows]
