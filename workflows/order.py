"""One workflow per order: the fulfillable gate, routing, modifications, fulfillments and roll-up.

Modifications, actions and fulfillment updates arrive as Updates. Validators refuse stale versions
and disallowed changes before they touch history; a handler changes state before its first await,
so of many concurrent PATCHes with one version exactly one passes its validator. Handlers change the
one order object in place, so a step awaiting an activity never holds a discarded copy.

Routing never leaves an order stuck: a refusal (a pickup location that is gone) or a routing that
keeps failing ends in NOT_ROUTABLE with `unfulfilledItems`, and the order is routed again when the
network changes (the `network_changed` signal) or, failing that, every few hours.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.logistics import LogisticsActivities
    from activities.orders import OrderActivities
    from activities.partners import PartnerActivities
    from domain import outbound as shipping
    from domain.errors import Conflict, DomainError, FieldError, Forbidden, NotFound, from_failure, to_failure
    from domain.orders import (
        ACTIVE,
        CarrierEvent,
        Fulfillment,
        FulfillmentCommand,
        FulfillmentUpdate,
        Modify,
        Order,
        OrderAction,
        OrderChange,
        OrderEvent,
        OrderStart,
        Routed,
        RouteRequest,
        SessionMove,
        Shipment,
        StockSettlement,
        apply_patch,
        check_fulfillment_update,
        check_patch,
        check_shipment,
        needs_payment,
        rolled_up,
    )
    from domain.partners import PartnerCall

LOCAL = timedelta(seconds=30)
REMOTE = timedelta(seconds=60)
# Routing that fails for a reason of its own (not a refusal) is retried for about an hour, then the
# order shows NOT_ROUTABLE instead of waiting in LOCKED for ever.
ROUTING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10), maximum_attempts=12)
RETRY_UNROUTABLE = timedelta(hours=6)
LIVE_ONLY = "order-cancel-live-sessions-only"  # workflow.patched: earlier runs cancelled every session
# workflow.patched: from 0.4 a shipment whose carrier is a CARRIER connector is tracked there.
TRACK_SHIPMENTS = "order-track-shipments"
# workflow.patched: from 0.4 routing reserves stock; the workflow releases it (cancel, re-route) or
# consumes it (in transit).
RESERVATIONS = "order-reservations"
MOVING = ("IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")  # carrier statuses that put a fulfillment in transit


@workflow.defn(name="Order")
class OrderWorkflow:
    @workflow.init
    def __init__(self, start: OrderStart) -> None:
        self._order = start.order
        self._sequence = 0
        self._routed = False
        self._reroute = False
        self._network_changed = False
        self._generation = 0
        self._tracking: list[asyncio.Task[None]] = []  # shipments' webhook registrations under way
        self._carrier = asyncio.Lock()  # carrier events, applied one at a time in arrival order

    @workflow.run
    async def run(self, start: OrderStart) -> Order:
        await self._record("order.created")
        await workflow.wait_condition(lambda: not needs_payment(self._order) or self._closed())
        # Counted in workflow time from placement (the workflow's start), never from a caller's clock.
        placed = workflow.info().start_time
        grace = timedelta(seconds=start.fulfillable.grace_period_seconds) - (workflow.now() - placed)
        if not self._closed() and grace > timedelta(0):
            # The customer may still cancel: nothing goes to the fulfillment side meanwhile.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(self._closed, timeout=grace)
        if not self._closed():
            await self._route("order.fulfillable")
        while not self._closed() and self._order.status not in ("DELIVERED",):
            if self._order.status == "NOT_ROUTABLE":
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._closed() or self._reroute or self._network_changed,
                        timeout=RETRY_UNROUTABLE,
                    )
                self._reroute, self._network_changed = False, False
                if not self._closed():
                    await self._route("order.rerouted")
                continue
            await workflow.wait_condition(
                lambda: self._closed() or self._reroute or self._order.status == "DELIVERED"
            )
            if self._reroute and not self._closed():
                self._reroute = False
                await self._cancel_sessions(self._live())
                await self._route("order.rerouted")
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and all(t.done() for t in self._tracking)
        )
        return self._order

    def _closed(self) -> bool:
        return self._order.status == "CANCELLED"

    @workflow.query
    def order(self) -> Order:
        return self._order

    @workflow.signal
    def network_changed(self) -> None:
        """Stock or locations changed: a NOT_ROUTABLE order tries again."""
        self._network_changed = True

    def _live(self) -> list[Fulfillment]:
        if workflow.patched(LIVE_ONLY):
            return [f for f in self._order.fulfillments if f.status not in ("delivered", "cancelled")]
        return [f for f in self._order.fulfillments if f.status != "delivered"]

    # Modifications

    @workflow.update
    async def modify(self, request: Modify) -> Order:
        user = None if request.config.actor_anonymization else request.user
        changes = apply_patch(self._order, request.patch, workflow.now(), user)
        status = self._order.status
        # While LOCKED, the routing under way sees the new version and routes again itself.
        if status == "NOT_ROUTABLE" or (status != "LOCKED" and self._routed and not self._started()):
            self._reroute = True
        await self._record("order.modified", changes=changes, comment=request.patch.comment)
        return self._order

    @modify.validator
    def _validate_modify(self, request: Modify) -> None:
        try:
            check_patch(self._order, request.patch, request.config)
        except DomainError as e:
            raise to_failure(e) from None

    def _started(self) -> bool:
        return any(f.status != "open" or f.shipments for f in self._order.fulfillments)

    # Actions

    @workflow.update
    async def act(self, action: OrderAction) -> Order:
        o = self._order
        before = o.status
        o.version, o.last_modified = o.version + 1, workflow.now()
        if action.name == "MARK_PAID":
            o.payment_status = "PAID"
            await self._record("order.paid")
        elif action.name == "UPDATE_CONSUMER":
            o.consumer = action.consumer
            await self._record("order.consumer_updated")
        else:
            o.status = "CANCELLED"
            live = self._live()
            for f in live:
                f.status = "cancelled"
            await self._record(
                "order.cancelled", previousStatus=before, by="admin" if action.admin else "customer"
            )
            await self._cancel_sessions(live)
        return self._order

    @act.validator
    def _validate_act(self, action: OrderAction) -> None:
        status = self._order.status
        if action.name == "MARK_PAID" and (self._order.payment_status == "PAID" or status != "OPEN"):
            raise to_failure(_conflict("ALREADY_PAID", "the order is paid already or no longer open", "name"))
        if action.name == "UPDATE_CONSUMER" and (action.consumer is None or status not in ACTIVE):
            raise to_failure(
                _conflict("CONSUMER_LOCKED", "give a consumer; only an open order's can change", "consumer")
            )
        if action.name == "CANCEL":
            if status in ("CANCELLED", "DELIVERED"):
                raise to_failure(_conflict("ORDER_CLOSED", f"a {status} order cannot be cancelled", "name"))
            if status not in ("OPEN", "NOT_ROUTABLE") and not action.admin:
                raise to_failure(
                    Forbidden.one(
                        "FORBIDDEN",
                        "an order being fulfilled is cancelled from the admin side (admin scope)",
                    )
                )

    # Fulfillments

    @workflow.update
    async def fulfillment(self, command: FulfillmentCommand) -> Order:
        o = self._order
        f = next(f for f in o.fulfillments if f.id == command.fulfillment_id)
        o.version, o.last_modified = o.version + 1, workflow.now()
        if command.shipment is not None:
            f.shipments = [*f.shipments, command.shipment]
            if command.promise is not None:  # kept from the start: the carrier may report at once
                f.tracking = {
                    **f.tracking,
                    command.shipment.tracking_number: _tracking(command.shipment, command.promise),
                }
            await self._record(
                "fulfillment.shipment_added",
                fulfillmentId=f.id,
                shipment=command.shipment.model_dump(mode="json"),
            )
            if workflow.patched(TRACK_SHIPMENTS):
                self._tracking.append(asyncio.create_task(self._track(f, command.shipment)))
            return self._order
        assert command.update is not None
        await self._move(f, command.update)
        return self._order

    async def _move(self, f: Fulfillment, update: FulfillmentUpdate) -> None:
        """A fulfillment's new status, its order's roll-up and its session's step."""
        o = self._order
        f.variants = check_fulfillment_update(f, update)
        f.status = update.status
        if f.status == "in_transit":
            shipped = {v.variant: v.fulfilled_quantity or 0 for v in f.variants}
            await self._settle([f], consumed=True, shipped=shipped)
        await self._record(
            f"fulfillment.{f.status}",
            fulfillmentId=f.id,
            fulfillmentVariants=[v.model_dump(mode="json") for v in f.variants],
        )
        before, o.status = o.status, rolled_up(o)
        if o.status != before:
            await self._record(f"order.{o.status.lower()}")
        await workflow.execute_activity_method(
            OrderActivities.move_fulfillment_session,
            SessionMove(
                tenant=o.tenant, session_id=f.session_id, process_type=f.process_type, status=f.status
            ),
            start_to_close_timeout=REMOTE,
        )

    @fulfillment.validator
    def _validate_fulfillment(self, command: FulfillmentCommand) -> None:
        found = [f for f in self._order.fulfillments if f.id == command.fulfillment_id]
        try:
            if not found:
                raise NotFound.one(
                    "FULFILLMENT_NOT_FOUND", f"no fulfillment {command.fulfillment_id!r}", "id"
                )
            if self._closed():
                raise _conflict("ORDER_CANCELLED", "the order is cancelled", "status")
            if command.shipment is not None:
                check_shipment(found[0], command.shipment)
            elif command.update is not None:
                check_fulfillment_update(found[0], command.update)
        except DomainError as e:
            raise to_failure(e) from None

    # Carrier tracking

    async def _track(self, f: Fulfillment, shipment: Shipment) -> None:
        """When the shipment's carrier is a CARRIER connector: record its number and register our
        webhook with it (a carrier that is none is simply not tracked)."""
        o, number = self._order, shipment.tracking_number
        track = shipping.Track(
            tenant=o.tenant,
            session_id=f.session_id,
            carrier=shipment.carrier,
            tracking_number=number,
            order_id=o.id,
            fulfillment_id=f.id,
        )
        try:
            tracked = await workflow.execute_activity_method(
                LogisticsActivities.track, track, start_to_close_timeout=REMOTE
            )
        except ActivityError as e:
            if from_failure(e) is not None:
                return
            raise
        outcome: dict[str, Any] = {"registered": False}
        try:
            await workflow.execute_activity_method(
                PartnerActivities.call_partner,
                PartnerCall(
                    tenant=o.tenant,
                    session_id=f.session_id,
                    step="shipment.tracking",
                    connector=shipment.carrier,
                    method="POST",
                    path="/webhooks",
                    body={"url": tracked.callback_url, "trackingNumber": number, "reference": f.id},
                    idempotency_key=f"{f.id}:tracking:{shipment.carrier}:{number}",
                ),
                start_to_close_timeout=REMOTE,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=20),
            )
            outcome["registered"] = True
        except ActivityError as e:
            outcome["error"] = str(e.cause or e)
        f.tracking = {
            **f.tracking,
            number: {**_tracking(shipment, None), **f.tracking.get(number, {}), **outcome},
        }
        o.last_modified = workflow.now()
        await self._save([])

    @workflow.signal
    async def carrier_event(self, carrier: CarrierEvent) -> None:
        """A carrier's status for one of the order's shipments: the shipment's status (never moved
        back by an older event), a `shipment.status_changed` event, and the fulfillment moved: in
        transit on the first movement, delivered once every shipment of it is."""
        async with self._carrier:
            await self._apply_carrier(carrier)

    async def _apply_carrier(self, carrier: CarrierEvent) -> None:
        o = self._order
        f = next((f for f in o.fulfillments if f.id == carrier.fulfillment_id), None)
        event = carrier.event
        try:
            status = shipping.CarrierStatus.model_validate(event.data)
        except ValidationError:
            return
        number = status.tracking_number or ""
        shipment = next((s for s in f.shipments if s.tracking_number == number), None) if f else None
        if f is None or shipment is None or shipment.carrier != event.connector or f.status == "cancelled":
            return
        known = f.tracking.get(number) or _tracking(shipment, None)
        if known.get("occurredAt") and status.occurred_at < datetime.fromisoformat(known["occurredAt"]):
            return  # older than what the shipment shows: no step back
        normalized, previous = shipping.normalize(status.status), known.get("status")
        estimate = status.estimated_delivery.isoformat() if status.estimated_delivery else None
        entry = {
            **known,
            "status": normalized,
            "carrierStatus": status.status,
            "occurredAt": status.occurred_at.isoformat(),
            "location": status.location,
            "estimatedDelivery": estimate or known.get("estimatedDelivery"),
        }
        promised = entry.get("promisedBy")
        late = bool(promised and entry["estimatedDelivery"] and entry["estimatedDelivery"] > promised)
        delayed_now = late and not entry.get("delayed")
        entry["delayed"] = bool(entry.get("delayed")) or late
        f.tracking = {**f.tracking, number: entry}
        o.last_modified = workflow.now()
        tracking = {
            "orderStatus": o.status,
            "fulfillmentId": f.id,
            "carrier": shipment.carrier,
            "trackingNumber": number,
            "status": normalized,
            "previousStatus": previous,
            "carrierStatus": status.status,
            "occurredAt": entry["occurredAt"],
            "location": status.location,
            "estimatedDelivery": entry["estimatedDelivery"],
        }
        await self._record("shipment.status_changed", **tracking)
        if delayed_now:
            await self._record(
                "shipment.delayed", **tracking, promisedBy=promised, quoteId=entry.get("quoteId")
            )
        if normalized in MOVING and f.status == "open":
            shipped = {v.variant: 0 for v in f.variants}
            for s in f.shipments:
                for line in s.shipment_variants:
                    shipped[str(line["variant"])] = shipped.get(str(line["variant"]), 0) + int(
                        line["quantity"]
                    )
            variants = [
                {"variant": v.variant, "fulfilledQuantity": min(shipped.get(v.variant, 0), v.quantity)}
                for v in f.variants
            ]
            o.version += 1
            await self._move(f, FulfillmentUpdate(status="in_transit", fulfillment_variants=variants))
        delivered = all(
            f.tracking.get(s.tracking_number, {}).get("status") == "DELIVERED" for s in f.shipments
        )
        if delivered and f.status == "in_transit":
            o.version += 1
            await self._move(f, FulfillmentUpdate(status="delivered"))

    # Steps

    async def _route(self, event: str) -> None:
        """Route the order as it stands: a modification while routing makes it route again."""
        while True:
            self._order.status = "LOCKED"
            self._generation += 1
            version = self._order.version
            routed = await self._plan()
            if self._closed() or self._order.version != version:  # cancelled, or modified: not this plan
                await self._settle(routed.fulfillments, consumed=False)
            if self._closed():  # cancelled while routing
                return
            if self._order.version == version:
                break
        o = self._order
        o.unfulfilled_items = routed.unfulfilled
        o.last_modified = workflow.now()
        if not routed.fulfillments:
            already = o.status == "NOT_ROUTABLE"
            o.status = "NOT_ROUTABLE"
            if not already:
                await self._record("order.not_routable", unfulfilledItems=routed.unfulfilled)
            return
        o.fulfillments = [*[f for f in o.fulfillments if f.status == "cancelled"], *routed.fulfillments]
        o.status, o.fulfillable_at = "PROMISED", o.fulfillable_at or workflow.now()
        self._routed = True
        live = [f for f in o.fulfillments if f.status != "cancelled"]
        await self._record(
            event,
            fulfillments=[
                {
                    "fulfillmentId": f.id,
                    "locationRef": f.location_ref,
                    "variants": [{"variant": v.variant, "quantity": v.quantity} for v in f.variants],
                }
                for f in live
            ],
            unfulfilledItems=routed.unfulfilled,
        )
        await workflow.execute_activity_method(
            OrderActivities.start_fulfillment_sessions, o, start_to_close_timeout=REMOTE
        )

    async def _plan(self) -> Routed:
        """The routing of the order, or, when it is refused or keeps failing, none (with the reason)."""
        try:
            return await workflow.execute_activity_method(
                OrderActivities.route_order,
                RouteRequest(order=self._order, generation=self._generation),
                start_to_close_timeout=REMOTE,
                retry_policy=ROUTING_RETRY,
            )
        except ActivityError as e:
            refusal = from_failure(e)
            reason = refusal.detail if refusal else "routing failed repeatedly; it is retried later"
            code = refusal.errors[0].code if refusal else "ROUTING_FAILED"
            return Routed(
                fulfillments=[],
                unfulfilled=[
                    {
                        "variant": i.article.tenant_article_id,
                        "quantity": i.quantity,
                        "reasonCode": code,
                        "reason": reason,
                    }
                    for i in self._order.order_line_items
                    if i.quantity
                ],
            )

    async def _settle(
        self, fulfillments: list[Fulfillment], consumed: bool, shipped: dict[str, int] | None = None
    ) -> None:
        """End the fulfillments' reservations (routings before release 0.4 reserved nothing)."""
        if fulfillments and workflow.patched(RESERVATIONS):
            settlement = StockSettlement(
                tenant=self._order.tenant,
                fulfillment_ids=[f.id for f in fulfillments],
                consumed=consumed,
                shipped=shipped or {},
            )
            await workflow.execute_activity_method(
                OrderActivities.settle_reservations, settlement, start_to_close_timeout=REMOTE
            )

    async def _cancel_sessions(self, fulfillments: list[Fulfillment]) -> None:
        o = self._order
        await self._settle(fulfillments, consumed=False)  # what shipped was consumed: nothing left to release
        for f in fulfillments:
            if f.status != "delivered":
                f.status = "cancelled"
                await workflow.execute_activity_method(
                    OrderActivities.move_fulfillment_session,
                    SessionMove(
                        tenant=o.tenant,
                        session_id=f.session_id,
                        process_type=f.process_type,
                        status="cancelled",
                    ),
                    start_to_close_timeout=REMOTE,
                )

    async def _record(self, event_type: str, **data: Any) -> None:
        self._sequence += 1
        o = self._order
        event = OrderEvent(
            type=event_type,
            sequence=self._sequence,
            at=workflow.now(),
            data={
                "orderId": o.id,
                "orderNo": o.tenant_order_id,
                "status": o.status,
                "version": o.version,
                **data,
            },
        )
        await self._save([event])

    async def _save(self, events: list[OrderEvent]) -> None:
        """The order as it stands into the read model, with its new events."""
        o = self._order
        workflow.set_current_details(
            f"**{o.status}** (version {o.version}), {len(o.fulfillments)} fulfillment(s)"
        )
        await workflow.execute_local_activity_method(
            OrderActivities.record_order_change,
            OrderChange(order=o, events=events),
            start_to_close_timeout=LOCAL,
        )


def _tracking(shipment: Shipment, promise: shipping.Promise | None) -> dict[str, Any]:
    """A shipment's tracking before its carrier said anything."""
    return {
        "carrier": shipment.carrier,
        "status": None,
        "registered": False,
        "promisedBy": promise.promised_by.isoformat() if promise else None,
        "quoteId": promise.quote_id if promise else None,
        "delayed": False,
    }


def _conflict(code: str, message: str, field: str) -> DomainError:
    return Conflict([FieldError(code, message, field)])
