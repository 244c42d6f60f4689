"""Session bookkeeping: the revision, its event and the read-model row in one transaction, then publish."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity

from activities.ports import EventPublisher
from domain.changes import HeldStock
from domain.errors import Conflict
from domain.model import CamelModel
from domain.partners import Notification
from domain.session import SessionChange
from storage import partners, reservations, sessions
from storage.reservations import Hold, Shortage

log = structlog.get_logger(__name__)


class SessionStock(CamelModel):
    """A pickup session's stock: what it holds (`holds`), or how its holds end (`consumed`)."""

    tenant: str
    session_id: str
    holds: list[HeldStock] = []
    consumed: bool = False
    change_id: str | None = None  # adopting: the change whose reservation becomes the session's

    def owned(self) -> list[Hold]:
        """The holds, as the session's own."""
        return [Hold(self.session_id, h.location_ref, h.sku, h.quantity) for h in self.holds]


class SessionActivities:
    def __init__(self, engine: Engine, publisher: EventPublisher) -> None:
        self._engine, self._publisher = engine, publisher

    @activity.defn(name="record_session_change")
    async def record_session_change(self, change: SessionChange) -> None:
        event = await asyncio.to_thread(sessions.record_change, self._engine, change)
        # Published on every try, not only the one that wrote: a retry after a failed publish
        # finds the event already stored and must still wake its webhooks.
        await self._publisher.publish(event)
        log.debug(
            "session.recorded",
            tenant=change.revision.tenant,
            workflow_id=activity.info().workflow_id,
            revision=change.revision.revision,
            status=change.view.status,
        )

    @activity.defn(name="notify")
    async def notify(self, notification: Notification) -> None:
        """A `notify` step's event: stored once (by its sequence), published on every try."""
        event = await asyncio.to_thread(partners.record_notification, self._engine, notification)
        await self._publisher.publish(event)

    @activity.defn(name="hold_session_stock")
    async def hold_session_stock(self, stock: SessionStock) -> bool:
        """A pickup session's items, held at its location; False when they are not all there (it
        holds nothing then: the location's own stock feed decides whether the pickup can happen)."""
        try:
            await asyncio.to_thread(
                reservations.reserve,
                self._engine,
                stock.tenant,
                None,
                stock.owned(),
                datetime.now(UTC),
                owner_kind="session",
            )
        except Shortage as e:
            log.info("session.stock_short", tenant=stock.tenant, session_id=stock.session_id, sku=e.sku_ref)
            return False
        return True

    @activity.defn(name="settle_session_stock")
    async def settle_session_stock(self, stock: SessionStock) -> int:
        """A pickup session ended: its holds are consumed (collected) or released; once."""
        return await asyncio.to_thread(
            reservations.settle, self._engine, stock.tenant, [stock.session_id], stock.consumed
        )

    @activity.defn(name="adopt_change_stock")
    async def adopt_change_stock(self, stock: SessionStock) -> None:
        """An accepted change's stock becomes the session's, and what it held beyond is released:
        one transaction, so the session holds either its old stock or its new, never both or none."""
        assert stock.change_id is not None
        try:
            await asyncio.to_thread(
                reservations.adopt,
                self._engine,
                stock.tenant,
                stock.session_id,
                stock.change_id,
                stock.owned(),
                datetime.now(UTC),
            )
        except Shortage as e:  # the change reserved less than it needs: nothing moved
            raise Conflict.one(
                "STOCK_TAKEN", f"{e.location_ref} no longer has {e.sku_ref}", "changes"
            ) from None
