"""The order workflow alone: routing, recording and the sessions it drives are stand-ins."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.logistics import LogisticsActivities
from activities.orders import OrderActivities
from activities.partners import PartnerActivities
from domain import ids
from domain.errors import Conflict, DomainError, Forbidden, NotFound, from_failure, to_failure
from domain.orders import (
    CarrierEvent,
    FulfillableConfig,
    Fulfillment,
    FulfillmentCommand,
    FulfillmentUpdate,
    LinePatch,
    ModificationConfig,
    Modify,
    Order,
    OrderAction,
    OrderChange,
    OrderCreate,
    OrderPatch,
    OrderStart,
    Routed,
    RouteRequest,
    SessionMove,
    Shipment,
    StockSettlement,
    Variant,
    new_order,
)
from domain.outbound import Promise, Track, Tracked
from domain.partners import CallResult, PartnerCall, PartnerEvent
from tests.support import eventually
from tests.workflows.support import keep, stand_in, worker
from workers.worker import INTERCEPTORS
from workflows.order import ROUTING_RETRY, OrderWorkflow

GRACE = 300


class Partners:
    """Stand-ins for the order's activities: one fulfillment per order at WH, everything kept."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.started: list[list[str]] = []
        self.moves: list[tuple[str, str]] = []
        self.settled: list[tuple[tuple[str, ...], bool]] = []

        @stand_in(OrderActivities.record_order_change)
        async def record(change: OrderChange) -> None:
            self.events += [e.type for e in change.events]

        @stand_in(OrderActivities.route_order)
        async def route(request: RouteRequest) -> Routed:
            order = request.order
            fid = ids.fulfillment_id(order.id, request.generation, "WH")
            variants = [
                Variant(variant=i.article.tenant_article_id, quantity=i.quantity)
                for i in order.order_line_items
            ]
            return Routed(
                fulfillments=[
                    Fulfillment(
                        id=fid,
                        order_id=order.id,
                        location_ref="WH",
                        variants=variants,
                        session_id=ids.fulfillment_session_id(fid),
                        process_type="WEB_ORDER",
                    )
                ],
                unfulfilled=[],
            )

        @stand_in(OrderActivities.start_fulfillment_sessions)
        async def start_sessions(order: Order) -> None:
            self.started.append([f.session_id for f in order.fulfillments if f.status != "cancelled"])

        @stand_in(OrderActivities.move_fulfillment_session)
        async def move(m: SessionMove) -> None:
            self.moves.append((m.session_id, m.status))

        @stand_in(OrderActivities.settle_reservations)
        async def settle(s: StockSettlement) -> int:
            self.settled.append((tuple(s.fulfillment_ids), s.consumed))
            return 0

        self.activities: list[Callable[..., Any]] = [record, route, start_sessions, move, settle]


async def place(env: WorkflowEnvironment, queue: str, **body: Any) -> WorkflowHandle[OrderWorkflow, Order]:
    create = OrderCreate.model_validate(
        {
            "tenantOrderId": f"W-{uuid.uuid4().hex[:6]}",
            "orderLineItems": [{"article": {"tenantArticleId": "SKU-1"}, "quantity": 2}],
            **body,
        }
    )
    order = new_order("wf", str(uuid.uuid4()), create, datetime.now(UTC))
    return await env.client.start_workflow(
        OrderWorkflow.run,
        OrderStart(order=order, fulfillable=FulfillableConfig(grace_period_seconds=GRACE)),
        id=ids.order_workflow_id("wf", order.id),
        task_queue=queue,
    )


async def refusal(call: Any) -> Exception | None:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await call
    return from_failure(refused.value.cause)


async def test_a_paid_order_is_routed_after_grace_and_its_fulfillment_drives_its_session(
    time_skipping: WorkflowEnvironment,
) -> None:
    partners = Partners()
    async with worker(time_skipping, [OrderWorkflow], partners.activities) as queue:
        handle = await place(time_skipping, queue, paymentStatus="PAID")
        await time_skipping.sleep(timedelta(seconds=GRACE - 1))
        assert (await handle.query(OrderWorkflow.order)).status == "OPEN" and partners.started == []
        await time_skipping.sleep(timedelta(seconds=2))
        promised = await handle.query(OrderWorkflow.order)
        assert promised.status == "PROMISED"
        (f,) = promised.fulfillments
        assert partners.started == [[f.session_id]]

        shipped = FulfillmentUpdate(
            status="in_transit", fulfillment_variants=[{"variant": "SKU-1", "fulfilledQuantity": 2}]
        )
        in_transit = await handle.execute_update(
            OrderWorkflow.fulfillment, FulfillmentCommand(fulfillment_id=f.id, update=shipped)
        )
        assert in_transit.status == "IN_TRANSIT"
        await handle.execute_update(
            OrderWorkflow.fulfillment,
            FulfillmentCommand(fulfillment_id=f.id, update=FulfillmentUpdate(status="delivered")),
        )
        final = await handle.result()
        assert final.status == "DELIVERED"
        assert partners.moves == [(f.session_id, "in_transit"), (f.session_id, "delivered")]
        assert partners.settled == [((f.id,), True)]  # its reservation consumed once in transit
        assert partners.events == [
            "order.created",
            "order.fulfillable",
            "fulfillment.in_transit",
            "order.in_transit",
            "fulfillment.delivered",
            "order.delivered",
        ]
        await keep(handle, "order_delivered")


async def test_a_tracked_shipment_moves_its_fulfillment_by_the_carriers_word(
    time_skipping: WorkflowEnvironment,
) -> None:
    """A shipment at a CARRIER connector is registered there; its carrier's events (one older than the
    shipment's status dropped) put the fulfillment in transit, then deliver it and the order."""
    partners = Partners()
    registered: list[PartnerCall] = []

    @stand_in(LogisticsActivities.track)
    async def track(t: Track) -> Tracked:
        return Tracked(callback_url=f"http://orchestrator.test/partners/con_{t.carrier}/events")

    @stand_in(PartnerActivities.call_partner)
    async def call_partner(call: PartnerCall) -> CallResult:
        registered.append(call)
        return CallResult(status=201, body={"webhookId": "wh-1"})

    stand_ins: list[Callable[..., Any]] = [*partners.activities, track, call_partner]
    async with worker(time_skipping, [OrderWorkflow], stand_ins) as queue:
        handle = await place(time_skipping, queue, paymentStatus="PAID")
        await time_skipping.sleep(timedelta(seconds=GRACE + 1))
        (f,) = (await handle.query(OrderWorkflow.order)).fulfillments
        shipment = Shipment(
            carrier="swift", tracking_number="S-1", shipment_variants=[{"variant": "SKU-1", "quantity": 2}]
        )
        promise = Promise(quote_id="q_1", provider="swift", promised_by=date(2026, 12, 1))
        await handle.execute_update(
            OrderWorkflow.fulfillment,
            FulfillmentCommand(fulfillment_id=f.id, shipment=shipment, promise=promise),
        )
        t0 = datetime(2026, 11, 28, 9, tzinfo=UTC)
        for n, (word, hours, estimate) in enumerate(
            (("In Transit", 0, "2026-12-03"), ("Label Created", -1, None), ("Delivered", 5, None))
        ):
            data = {
                "trackingNumber": "S-1",
                "status": word,
                "occurredAt": (t0 + timedelta(hours=hours)).isoformat(),
            }
            if estimate:
                data["estimatedDelivery"] = estimate
            event = PartnerEvent(
                id=f"s{n}", connector="swift", type="shipment.status", data=data, received_at=t0
            )
            await handle.signal(OrderWorkflow.carrier_event, CarrierEvent(fulfillment_id=f.id, event=event))
        final = await handle.result()
        await keep(handle, "order_shipment_tracked")
    assert final.status == "DELIVERED"
    (done,) = final.fulfillments
    assert done.status == "delivered" and done.variants[0].fulfilled_quantity == 2
    assert done.tracking["S-1"]["status"] == "DELIVERED" and done.tracking["S-1"]["delayed"] is True
    assert [(c.path, c.body["url"]) for c in registered] == [
        ("/webhooks", "http://orchestrator.test/partners/con_swift/events")
    ]
    assert partners.events[2:] == [
        "fulfillment.shipment_added",
        "shipment.status_changed",
        "shipment.delayed",
        "fulfillment.in_transit",
        "order.in_transit",
        "shipment.status_changed",
        "fulfillment.delivered",
        "order.delivered",
    ]


async def test_refused_updates_carry_their_domain_error_and_change_nothing(
    time_skipping: WorkflowEnvironment,
) -> None:
    partners = Partners()
    async with worker(time_skipping, [OrderWorkflow], partners.activities) as queue:
        handle = await place(time_skipping, queue, paymentStatus="PAID")
        stale = Modify(patch=OrderPatch(version=7, comment="late"), config=ModificationConfig(), user="k")
        error = await refusal(handle.execute_update(OrderWorkflow.modify, stale))
        assert isinstance(error, Conflict) and error.errors[0].field == "version"

        await time_skipping.sleep(timedelta(seconds=GRACE + 1))
        customer_cancel = OrderAction(name="CANCEL", user="customer")
        error = await refusal(handle.execute_update(OrderWorkflow.act, customer_cancel))
        assert isinstance(error, Forbidden)
        assert (await handle.query(OrderWorkflow.order)).version == 1

        admin_cancel = OrderAction(name="CANCEL", admin=True, user="ops")
        cancelled = await handle.execute_update(OrderWorkflow.act, admin_cancel)
        assert cancelled.status == "CANCELLED"
        (f,) = cancelled.fulfillments
        assert f.status == "cancelled" and partners.moves == [(f.session_id, "cancelled")]
        assert partners.settled == [((f.id,), False)]  # its reservation released
        assert (await handle.result()).status == "CANCELLED"
        assert partners.events == ["order.created", "order.fulfillable", "order.cancelled"]
        await keep(handle, "order_cancelled_by_admin")


async def test_a_modification_while_routing_routes_again_and_nothing_is_lost(
    time_skipping: WorkflowEnvironment,
) -> None:
    partners = Partners()
    routing, release = asyncio.Event(), asyncio.Event()
    planned: list[int] = []
    real_route = partners.activities[1]

    @stand_in(OrderActivities.route_order)
    async def slow_route(request: RouteRequest) -> Routed:
        planned.append(request.order.order_line_items[0].quantity)
        routing.set()
        await release.wait()
        return await real_route(request)

    partners.activities[1] = slow_route
    async with worker(time_skipping, [OrderWorkflow], partners.activities) as queue:
        handle = await place(time_skipping, queue, paymentStatus="PAID")
        await time_skipping.sleep(timedelta(seconds=GRACE + 1))
        await routing.wait()
        locked = await handle.query(OrderWorkflow.order)
        assert locked.status == "LOCKED"
        line = locked.order_line_items[0].id
        patch = OrderPatch(version=locked.version, order_line_items=[LinePatch(id=str(line), quantity=5)])
        modified = await handle.execute_update(
            OrderWorkflow.modify, Modify(patch=patch, config=ModificationConfig(), user="k")
        )
        assert modified.version == 2
        release.set()

        async def promised() -> bool:
            return (await handle.query(OrderWorkflow.order)).status == "PROMISED"

        await eventually(promised, 30, "the order to be promised")
        order = await handle.query(OrderWorkflow.order)
        assert planned == [2, 5]  # the first plan was for the old quantity: routed again
        (f,) = order.fulfillments
        assert [v.quantity for v in f.variants] == [5] and order.version == 2
        assert partners.started == [[f.session_id]]  # sessions only for the plan that stands
        assert partners.events == ["order.created", "order.modified", "order.fulfillable"]


async def test_routing_that_is_refused_or_keeps_failing_ends_not_routable_not_stuck(
    time_skipping: WorkflowEnvironment,
) -> None:
    for failure, code, tries in (
        (
            to_failure(NotFound.one("UNKNOWN_LOCATION", "no pickup location 'GONE'", "locationRef")),
            "UNKNOWN_LOCATION",
            1,
        ),
        (RuntimeError("the database is on fire"), "ROUTING_FAILED", ROUTING_RETRY.maximum_attempts),
    ):
        partners = Partners()
        attempts: list[int] = []

        @stand_in(OrderActivities.route_order)
        async def failing(
            request: RouteRequest, failure: BaseException = failure, attempts: list[int] = attempts
        ) -> Routed:
            attempts.append(activity.info().attempt)
            raise failure

        partners.activities[1] = failing
        async with worker(time_skipping, [OrderWorkflow], partners.activities) as queue:
            handle = await place(time_skipping, queue, paymentStatus="PAID")
            await time_skipping.sleep(timedelta(hours=2))
            order = await handle.query(OrderWorkflow.order)
        assert order.status == "NOT_ROUTABLE" and len(attempts) == tries
        assert {u["reasonCode"] for u in order.unfulfilled_items} == {code}
        assert partners.events == ["order.created", "order.not_routable"]
        await handle.terminate()


async def test_a_domain_error_raised_in_any_activity_is_not_retried(
    time_skipping: WorkflowEnvironment,
) -> None:
    """The worker's interceptor makes a refusal final, so no activity retries bad input for ever."""
    attempts: list[int] = []

    @stand_in(OrderActivities.route_order)
    async def refusing(request: RouteRequest) -> Routed:
        attempts.append(activity.info().attempt)
        raise DomainError.one("UNKNOWN_LOCATION", "no pickup location 'GONE'", "locationRef")

    partners = Partners()
    partners.activities[1] = refusing
    queue = f"wf-{uuid.uuid4().hex[:10]}"
    async with Worker(
        time_skipping.client,
        task_queue=queue,
        workflows=[OrderWorkflow],
        activities=partners.activities,
        interceptors=INTERCEPTORS,
    ):
        handle = await place(time_skipping, queue, paymentStatus="PAID")
        await time_skipping.sleep(timedelta(hours=2))
        order = await handle.query(OrderWorkflow.order)
    assert order.status == "NOT_ROUTABLE" and attempts == [1]
    assert order.unfulfilled_items[0]["reasonCode"] == "UNKNOWN_LOCATION"
    await handle.terminate()
