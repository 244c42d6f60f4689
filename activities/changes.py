"""A change proposal's side effects: its record and events, the stock it reserves for its session,
its Update on the session, and the release that undoes the reservation when the Update fails."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.ports import EventPublisher, Sessions
from domain.changes import AppliedChange, ChangeRecord, HeldStock
from domain.errors import Conflict, Unavailable
from domain.model import CamelModel
from domain.session import SessionView
from storage import changes, reservations
from storage.reservations import Hold, Shortage


class ChangeStock(CamelModel):
    tenant: str
    session_id: str
    change_id: str
    targets: list[HeldStock]


class ChangeActivities:
    def __init__(self, engine: Engine, publisher: EventPublisher, sessions: Sessions) -> None:
        self._engine, self._publisher, self._sessions = engine, publisher, sessions

    @activity.defn(name="record_change")
    async def record_change(self, rec: ChangeRecord) -> None:
        """The proposal's row and event, stored once; published on every try (as a session's)."""
        event = await asyncio.to_thread(changes.record, self._engine, rec)
        await self._publisher.publish(event)

    @activity.defn(name="reserve_for_change")
    async def reserve_for_change(self, stock: ChangeStock) -> None:
        """Reserve, as the change's own, what its targets need beyond what the session holds at the
        same positions; a `Conflict` (STOCK_TAKEN) when a position no longer has it: nothing taken."""

        def reserve() -> None:
            held = {
                (r.location_ref, r.sku_ref): r.quantity
                for r in reservations.of_owner(self._engine, stock.tenant, stock.session_id)
            }
            holds = [
                Hold(
                    stock.change_id, t.location_ref, t.sku, t.quantity - held.get((t.location_ref, t.sku), 0)
                )
                for t in stock.targets
            ]
            try:
                reservations.reserve(
                    self._engine,
                    stock.tenant,
                    None,
                    [h for h in holds if h.quantity > 0],
                    datetime.now(UTC),
                    owner_kind="change",
                )
            except Shortage as e:
                raise Conflict.one(
                    "STOCK_TAKEN", f"{e.location_ref} no longer has {e.sku_ref} for this change", "changes"
                ) from None

        await asyncio.to_thread(reserve)

    @activity.defn(name="apply_change_to_session")
    async def apply_change_to_session(self, stock: ChangeStock, change: AppliedChange) -> SessionView:
        """The session's Update (its id is the change's: a retry applies it once). A refusal is
        final; a session that did not answer is asked again."""
        try:
            return await self._sessions.apply_change(stock.tenant, stock.session_id, change)
        except Unavailable as e:
            raise RuntimeError(f"the session did not answer: {e.detail}") from None

    @activity.defn(name="release_change")
    async def release_change(self, stock: ChangeStock) -> int:
        """Give back what the change reserved (its session's Update failed); once."""
        return await asyncio.to_thread(
            reservations.settle, self._engine, stock.tenant, [stock.change_id], False
        )
