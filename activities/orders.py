"""Order side effects: recording changes with their events, routing, and the fulfillment sessions."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ports import EventPublisher, Sessions
from domain import ids
from domain.builtins import BUILTINS
from domain.errors import Conflict, DomainError, NotFound
from domain.orders import (
    Fulfillment,
    OptionsHold,
    Order,
    OrderChange,
    Routed,
    RouteRequest,
    SessionMove,
    StockSettlement,
    Variant,
    destination,
)
from domain.process import path_to
from domain.session import ActionRequest, SessionStart, SessionView
from domain.sourcing.engine import source
from domain.sourcing.model import Line, SourcingRequest
from domain.sourcing.network import Network
from domain.sourcing.options import EXPIRED, SELECTED
from storage import network, options, orders, reservations
from storage.network import NetworkCache
from storage.reservations import Hold, Shortage

log = structlog.get_logger(__name__)
PROCESS_FOR = {"HD": "WEB_ORDER", "CC": "CLICK_AND_COLLECT"}
# Where a fulfillment's status takes its session, per process.
SESSION_TARGETS = {
    ("WEB_ORDER", "in_transit"): {"SHIPPED"},
    ("WEB_ORDER", "delivered"): {"DELIVERED"},
    ("CLICK_AND_COLLECT", "in_transit"): {"READY_FOR_PICKUP"},
    ("CLICK_AND_COLLECT", "delivered"): {"COLLECTED"},
}


SHORTAGE_RETRIES = 5  # plans made again when a concurrent routing took the stock first


def route(engine: Engine, cache: NetworkCache, request: RouteRequest) -> Routed:
    """Plan the order's fulfillments with the sourcing engine (one per location of the best plan) on
    the order's SKUs' current stock, and reserve them: a plan whose stock another order took meanwhile
    is made again. A retried routing finds its reservations and answers the same plan."""
    order = request.order
    kind, pickup, _, _ = destination(order.delivery_preferences, order.consumer)
    base = cache.get(order.tenant)
    if pickup is not None and pickup not in base.index:  # the location went away after the order came in
        message = f"no pickup location {pickup!r}"
        raise DomainError.one("UNKNOWN_LOCATION", message, "deliveryPreferences.collect.locationRef")
    lines = [
        Line(sku_ref=i.article.tenant_article_id, quantity=i.quantity)
        for i in order.order_line_items
        if i.quantity
    ]
    before = _reserved_before(engine, request, kind)
    if before is not None:
        return before
    skus = sorted({line.sku_ref for line in lines})
    for _ in range(SHORTAGE_RETRIES):
        routed = _plan(
            engine, base.with_stock(network.available(engine, order.tenant, skus), skus), request, lines
        )
        holds = [
            Hold(owner_id=f.id, location_ref=f.location_ref, sku_ref=v.variant, quantity=v.quantity)
            for f in routed.fulfillments
            for v in f.variants
        ]
        try:
            reservations.reserve(engine, order.tenant, order.id, holds, datetime.now(UTC))
        except Shortage:
            continue
        return routed
    raise ApplicationError(f"the stock kept being taken by other orders ({SHORTAGE_RETRIES} plans)")


def _reserved_before(engine: Engine, request: RouteRequest, kind: str) -> Routed | None:
    """The plan an earlier try of this routing reserved (its activity retried after the commit), from
    its reservations: the same fulfillments, never a second set."""
    order = request.order
    rows = [
        r
        for r in reservations.of_order(engine, order.tenant, order.id)
        if r.owner_id == ids.fulfillment_id(order.id, request.generation, r.location_ref)
    ]
    if not rows:
        return None
    by_location: dict[str, list[Variant]] = {}
    for r in rows:
        by_location.setdefault(r.location_ref, []).append(Variant(variant=r.sku_ref, quantity=r.quantity))
    fulfillments = [
        Fulfillment(
            id=ids.fulfillment_id(order.id, request.generation, ref),
            order_id=order.id,
            location_ref=ref,
            variants=variants,
            session_id=ids.fulfillment_session_id(ids.fulfillment_id(order.id, request.generation, ref)),
            process_type=PROCESS_FOR[kind],
        )
        for ref, variants in sorted(by_location.items())
    ]
    routed = {v.variant: 0 for f in fulfillments for v in f.variants}
    for f in fulfillments:
        for v in f.variants:
            routed[v.variant] += v.quantity
    unfulfilled = [
        {
            "variant": i.article.tenant_article_id,
            "quantity": left,
            "reasonCode": "NO_STOCK",
            "reason": "not enough stock",
        }
        for i in order.order_line_items
        if (left := i.quantity - routed.get(i.article.tenant_article_id, 0)) > 0
    ]
    return Routed(fulfillments=fulfillments, unfulfilled=unfulfilled)


def _plan(engine: Engine, net: Network, request: RouteRequest, lines: list[Line]) -> Routed:
    order = request.order
    kind, pickup, latitude, longitude = destination(order.delivery_preferences, order.consumer)
    sourcing = SourcingRequest(
        order_type=kind,
        lines=lines,
        pickup_ref=pickup,
        limit=1,
        latitude=latitude,
        longitude=longitude,
    )
    result = source(net, sourcing, network.profile(engine, order.tenant))
    plan = result.plans[0] if result.plans else None
    fulfillments = []
    for f in plan.fulfillments if plan else []:
        fid = ids.fulfillment_id(order.id, request.generation, f.location_ref)
        fulfillments.append(
            Fulfillment(
                id=fid,
                order_id=order.id,
                location_ref=f.location_ref,
                variants=[Variant(variant=line.sku_ref, quantity=line.quantity) for line in f.lines],
                session_id=ids.fulfillment_session_id(fid),
                process_type=PROCESS_FOR[kind],
            )
        )
    unfulfilled = [
        {"variant": u.sku_ref, "quantity": u.quantity, "reasonCode": u.reason_code, "reason": u.reason}
        for u in result.unfulfilled
    ]
    return Routed(fulfillments=fulfillments, unfulfilled=unfulfilled)


class OrderActivities:
    def __init__(self, engine: Engine, sessions: Sessions, publisher: EventPublisher) -> None:
        self._engine, self._sessions, self._publisher = engine, sessions, publisher
        self._cache = NetworkCache(engine)

    @activity.defn(name="record_order_change")
    async def record_order_change(self, change: OrderChange) -> None:
        written = await asyncio.to_thread(orders.record, self._engine, change)
        for event in written:  # published on every try: a retry must still wake the webhooks
            await self._publisher.publish(event)

    @activity.defn(name="settle_reservations")
    async def settle_reservations(self, settlement: StockSettlement) -> int:
        """End the fulfillments' reservations (once: a retry finds them gone); the units handled."""
        return await asyncio.to_thread(
            reservations.settle,
            self._engine,
            settlement.tenant,
            settlement.fulfillment_ids,
            settlement.consumed,
            settlement.shipped,
        )

    @activity.defn(name="expire_options_hold")
    async def expire_options_hold(self, hold: OptionsHold) -> bool:
        """Options still selected with this plan when its hold runs out: EXPIRED. The plan's stock is
        freed either way (confirmed or cancelled options released it already; a selection that never
        got through holds nothing, or what it took before its replica died)."""

        def expire() -> bool:
            moved = options.move(
                self._engine,
                hold.tenant,
                hold.options_id,
                SELECTED,
                EXPIRED,
                datetime.now(UTC),
                plan=hold.plan_id,
            )
            reservations.settle(self._engine, hold.tenant, [hold.plan_id], consumed=False)
            return moved is not None

        return await asyncio.to_thread(expire)

    @activity.defn(name="route_order")
    async def route_order(self, request: RouteRequest) -> Routed:
        routed = await asyncio.to_thread(route, self._engine, self._cache, request)
        log.info(
            "order.routed",
            tenant=request.order.tenant,
            workflow_id=activity.info().workflow_id,
            fulfillments=len(routed.fulfillments),
        )
        return routed

    @activity.defn(name="start_fulfillment_sessions")
    async def start_fulfillment_sessions(self, order: Order) -> None:
        """Start the session of each open fulfillment; a cancelled one is never started again."""
        for f in order.fulfillments:
            if f.status == "cancelled":
                continue
            start = SessionStart(
                tenant=order.tenant,
                session_id=f.session_id,
                cart_id=order.id,
                reference=order.tenant_order_id,
                context={"fulfillmentId": f.id, "locationRef": f.location_ref},
                definition=BUILTINS[f.process_type],
                actor="order",
            )
            with contextlib.suppress(Conflict):  # it ran and closed before (a retried start)
                await self._sessions.start(start)

    @activity.defn(name="move_fulfillment_session")
    async def move_fulfillment_session(self, move: SessionMove) -> None:
        """Walk the session to the state the fulfillment's status means; each step applies once.

        A session not found yet is being started (the order starts its sessions right after routing):
        that is retried, not a refusal. One that is never started has nothing to cancel."""
        targets = SESSION_TARGETS.get((move.process_type, move.status))
        if move.status == "cancelled":
            try:
                view = await self._sessions.view(move.tenant, move.session_id)
            except NotFound:
                return
            if "cancel" in view.allowed_actions:
                await self._act(move, "cancel", view.revision)
            return
        if targets is None:
            return
        try:
            view = await self._sessions.view(move.tenant, move.session_id)
        except NotFound:
            raise ApplicationError(
                f"session {move.session_id} is not started yet", type="SessionStarting"
            ) from None
        for action in path_to(BUILTINS[move.process_type], view.status, targets) or []:
            view = await self._act(move, action, view.revision)

    async def _act(self, move: SessionMove, action: str, revision: int) -> SessionView:
        update_id = ids.session_move_update_id(move.session_id, revision, action)
        try:
            return await self._sessions.act(
                move.tenant,
                move.session_id,
                ActionRequest(action=action, actor="order"),
                update_id,
            )
        except Conflict:  # the state refused it: already moved on by an earlier try
            return await self._sessions.view(move.tenant, move.session_id)
