"""Order side effects: recording changes with their events, routing, and the fulfillment sessions."""

from __future__ import annotations

import asyncio
import contextlib

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
    Order,
    OrderChange,
    Routed,
    RouteRequest,
    SessionMove,
    Variant,
    destination,
)
from domain.process import path_to
from domain.session import ActionRequest, SessionStart, SessionView
from domain.sourcing.engine import source
from domain.sourcing.model import Line, SourcingRequest
from storage import network, orders
from storage.network import NetworkCache

log = structlog.get_logger(__name__)
PROCESS_FOR = {"HD": "WEB_ORDER", "CC": "CLICK_AND_COLLECT"}
# Where a fulfillment's status takes its session, per process.
SESSION_TARGETS = {
    ("WEB_ORDER", "in_transit"): {"SHIPPED"},
    ("WEB_ORDER", "delivered"): {"DELIVERED"},
    ("CLICK_AND_COLLECT", "in_transit"): {"READY_FOR_PICKUP"},
    ("CLICK_AND_COLLECT", "delivered"): {"COLLECTED"},
}


def route(engine: Engine, cache: NetworkCache, request: RouteRequest) -> Routed:
    """Plan the order's fulfillments with the sourcing engine: one per location of the best plan."""
    order = request.order
    kind, pickup, latitude, longitude = destination(order.delivery_preferences, order.consumer)
    net = cache.get(order.tenant)
    if pickup is not None and pickup not in net.index:  # the location went away after the order came in
        message = f"no pickup location {pickup!r}"
        raise DomainError.one("UNKNOWN_LOCATION", message, "deliveryPreferences.collect.locationRef")
    lines = [
        Line(sku_ref=i.article.tenant_article_id, quantity=i.quantity)
        for i in order.order_line_items
        if i.quantity
    ]
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
