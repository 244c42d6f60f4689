"""Live-feed tickets and the registry of live subscriptions (shared by every API replica)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import col, delete, select

from storage.engine import session_scope
from storage.tables import ApiKey, EventRow, LiveFeedSubscriptionRow, LiveFeedTicket
from storage.tenants import Principal

TICKET_TTL = timedelta(seconds=60)
STALE = timedelta(seconds=30)


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(engine: Engine, principal: Principal, now: datetime) -> tuple[str, datetime]:
    ticket = "lft_" + secrets.token_urlsafe(32)
    expires = now + TICKET_TTL
    with session_scope(engine) as s:
        s.add(
            LiveFeedTicket(
                ticket_hash=_hash(ticket),
                tenant_id=principal.tenant,
                key_id=principal.key_id,
                scopes=sorted(principal.scopes),
                expires_at=expires,
            )
        )
    return ticket, expires


def redeem_ticket(engine: Engine, ticket: str, now: datetime) -> Principal | None:
    """The ticket's principal, once: a second use, a use after 60 s, or one after its key was revoked
    finds nothing."""
    with session_scope(engine) as s:
        claimed = s.exec(
            update(LiveFeedTicket)
            .where(
                col(LiveFeedTicket.ticket_hash) == _hash(ticket),
                col(LiveFeedTicket.used_at).is_(None),
                col(LiveFeedTicket.expires_at) > now,
            )
            .values(used_at=now)
        )
        if claimed.rowcount != 1:
            return None
        row = s.get(LiveFeedTicket, _hash(ticket))
        assert row is not None
        key = s.get(ApiKey, row.key_id)
        if key is None or key.revoked_at is not None:  # the key it was issued to was revoked since
            return None
        return Principal(tenant=row.tenant_id, key_id=row.key_id, scopes=frozenset(row.scopes))


def register(engine: Engine, row: LiveFeedSubscriptionRow) -> None:
    with session_scope(engine) as s:
        s.add(row)


def remove(engine: Engine, tenant: str, subscription_id: str | None = None) -> list[str]:
    """End one subscription of the tenant, or all of them; returns the ids removed."""
    with session_scope(engine) as s:
        query = select(LiveFeedSubscriptionRow).where(LiveFeedSubscriptionRow.tenant_id == tenant)
        if subscription_id:
            query = query.where(LiveFeedSubscriptionRow.id == subscription_id)
        rows = s.exec(query).all()
        for row in rows:
            s.delete(row)
        return [r.id for r in rows]


def remove_ids(engine: Engine, ids: list[str]) -> None:
    if ids:
        with session_scope(engine) as s:
            s.exec(delete(LiveFeedSubscriptionRow).where(col(LiveFeedSubscriptionRow.id).in_(ids)))


def list_live(
    engine: Engine, tenant: str, now: datetime, limit: int = 100, offset: int = 0
) -> list[LiveFeedSubscriptionRow]:
    """A page of the tenant's live subscriptions, oldest first."""
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(LiveFeedSubscriptionRow)
                .where(
                    LiveFeedSubscriptionRow.tenant_id == tenant,
                    col(LiveFeedSubscriptionRow.seen_at) > now - STALE,
                )
                .order_by(col(LiveFeedSubscriptionRow.created_at), col(LiveFeedSubscriptionRow.id))
                .offset(offset)
                .limit(limit)
            )
        )


def backlog(engine: Engine, tenant: str, cursor: int, cap: int) -> int:
    """How many of the tenant's events came after `cursor`, counted no further than `cap`."""
    with session_scope(engine) as s:
        after = (
            select(EventRow.cursor)
            .where(EventRow.tenant_id == tenant, col(EventRow.cursor) > cursor)
            .limit(cap)
            .subquery()
        )
        return int(s.exec(select(func.count()).select_from(after)).one())


def sync(engine: Engine, replica: str, held: set[str], now: datetime) -> set[str]:
    """Mark this replica's subscriptions alive, drop stale ones; returns those of `held` ended elsewhere."""
    with session_scope(engine) as s:
        s.exec(
            update(LiveFeedSubscriptionRow)
            .where(col(LiveFeedSubscriptionRow.replica) == replica)
            .values(seen_at=now)
        )
        s.exec(delete(LiveFeedSubscriptionRow).where(col(LiveFeedSubscriptionRow.seen_at) < now - STALE * 10))
        ids = s.exec(
            select(LiveFeedSubscriptionRow.id).where(LiveFeedSubscriptionRow.replica == replica)
        ).all()
    return held - set(ids)
