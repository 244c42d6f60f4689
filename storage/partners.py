"""Partner calls (each attempt) and partner events (each one a partner sent), and notify events.

An inbound event is stored before anything acts on it, once per (connector, `webhook-id`): a replay
finds the stored row. `delivered` turns true once the session's workflow has it; until then a
replay of the event tries again, so an event is never lost between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select

from domain.events import Event
from domain.partners import CallAttempt, Notification, notify_subject
from storage import events
from storage.engine import session_scope
from storage.tables import PartnerCallRow, PartnerEventRow, SessionRow, TrackingRow


def log_call(engine: Engine, attempt: dict[str, Any]) -> None:
    with session_scope(engine) as s:
        s.add(PartnerCallRow(**attempt))


def calls(engine: Engine, tenant: str, session_id: str, limit: int, offset: int) -> list[CallAttempt]:
    """A session's call attempts, oldest first (the story of each call reads top down)."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(PartnerCallRow)
            .where(PartnerCallRow.tenant_id == tenant, PartnerCallRow.session_id == session_id)
            .order_by(col(PartnerCallRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
    return [CallAttempt.model_validate(r.model_dump(exclude={"tenant_id", "session_id"})) for r in rows]


@dataclass(frozen=True)
class Received:
    row: PartnerEventRow
    new: bool  # False: a replay of an event stored before
    order: tuple[str, str] | None = None  # (order, fulfillment) of a tracked fulfillment's shipment


def receive(
    engine: Engine,
    tenant: str,
    connector_id: str,
    message_id: str,
    type_: str,
    reference: str | None,
    data: dict[str, Any],
    now: datetime,
) -> Received:
    """Store the event once and match it: a carrier's by the `trackingNumber` in its data to the
    shipment it tracks (an outbound's session, or a fulfillment's order); else to a session by id,
    else by reference (the newest open one with that reference, else the newest)."""
    with session_scope(engine) as s:
        number = data.get("trackingNumber")
        tracked = s.get(TrackingRow, (tenant, connector_id, number)) if isinstance(number, str) else None
        order = (tracked.order_id, tracked.fulfillment_id or "") if tracked and tracked.order_id else None
        stored = _stored(s, connector_id, message_id)
        if stored is not None:
            return Received(stored, False, order)
        session_id = tracked.session_id if tracked else _match(s, tenant, reference) if reference else None
        row = PartnerEventRow(
            tenant_id=tenant,
            connector_id=connector_id,
            message_id=message_id,
            type=type_,
            reference=reference,
            data=data,
            session_id=session_id,
            delivered=False,
            received_at=now,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:  # the same event, stored by a concurrent request a moment ago
            s.rollback()
            again = _stored(s, connector_id, message_id)
            assert again is not None
            return Received(again, False, order)
    return Received(row, True, order)


def _stored(s: Any, connector_id: str, message_id: str) -> PartnerEventRow | None:
    return s.exec(
        select(PartnerEventRow).where(
            PartnerEventRow.connector_id == connector_id, PartnerEventRow.message_id == message_id
        )
    ).first()


def _match(s: Any, tenant: str, reference: str) -> str | None:
    by_id = s.get(SessionRow, (tenant, reference))
    if by_id is not None:
        return str(by_id.id)
    row = s.exec(
        select(SessionRow)
        .where(SessionRow.tenant_id == tenant, SessionRow.reference == reference)
        .order_by(col(SessionRow.terminal), col(SessionRow.created_at).desc())
        .limit(1)
    ).first()
    return str(row.id) if row else None


def mark_delivered(engine: Engine, event_id: int, session_id: str) -> None:
    """The session's workflow has the event."""
    with session_scope(engine) as s:
        row = s.get(PartnerEventRow, event_id)
        if row is not None:
            row.delivered, row.session_id = True, session_id


def list_events(
    engine: Engine, tenant: str, connector_id: str, unmatched: bool | None, limit: int, offset: int
) -> list[PartnerEventRow]:
    """A connector's events, newest first; `unmatched`: only those no session took (no session by
    that reference, or a session that had finished)."""
    query = select(PartnerEventRow).where(
        PartnerEventRow.tenant_id == tenant, PartnerEventRow.connector_id == connector_id
    )
    if unmatched is True:
        query = query.where(or_(col(PartnerEventRow.session_id).is_(None), ~col(PartnerEventRow.delivered)))
    elif unmatched is False:
        query = query.where(col(PartnerEventRow.session_id).is_not(None), col(PartnerEventRow.delivered))
    with session_scope(engine) as s:
        return list(s.exec(query.order_by(col(PartnerEventRow.id).desc()).offset(offset).limit(limit)))


def record_notification(engine: Engine, n: Notification) -> Event:
    """A notify step's event; idempotent by its sequence, so a retried activity writes it once."""
    with session_scope(engine) as s:
        return events.append(
            s, n.tenant, n.type, notify_subject(n.session_id), n.data, n.at, sequence=n.sequence
        )
