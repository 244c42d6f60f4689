"""The fulfillable gate on the time-skipping server: payment, then a grace period of durable time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.ids import order_workflow_id
from domain.orders import FulfillableConfig, Order, OrderAction, OrderCreate, OrderStart, new_order
from domain.sourcing.model import InventoryPosition, Location
from storage import events, network, webhooks
from tests.receiver import Receiver
from workflows.order import OrderWorkflow

GRACE = 600


async def start_order(
    env: WorkflowEnvironment, settings: Settings, engine: Engine, tenant: str, **body: object
) -> tuple[Order, WorkflowHandle[OrderWorkflow, Order]]:
    now = datetime.now(UTC)
    network.upsert_locations(
        engine, tenant, [Location(ref="WH", type="WAREHOUSE", latitude=52, longitude=5)], now
    )
    network.upsert_inventory(
        engine, tenant, [InventoryPosition(location_ref="WH", sku_ref="SKU-1", on_hand=9)], now
    )
    create = OrderCreate.model_validate(
        {
            "tenantOrderId": f"G-{uuid.uuid4().hex[:6]}",
            "orderLineItems": [{"article": {"tenantArticleId": "SKU-1"}, "quantity": 2}],
            **body,
        }
    )
    order = new_order(tenant, str(uuid.uuid4()), create, now)
    handle = await env.client.start_workflow(
        OrderWorkflow.run,
        OrderStart(order=order, fulfillable=FulfillableConfig(grace_period_seconds=GRACE)),
        id=order_workflow_id(tenant, order.id),
        task_queue=settings.task_queue,
    )
    return order, handle


def types(engine: Engine, tenant: str, order_id: str) -> list[str]:
    return [e.type for e in events.list_events(engine, tenant, subject=order_id)]


async def test_paid_order_becomes_fulfillable_after_the_grace_period(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    tenant = f"g-{uuid.uuid4().hex[:8]}"
    hook = webhooks.create(engine, tenant, receiver.url(tenant), ["order.fulfillable"], "", datetime.now(UTC))
    endpoint = receiver.endpoint(tenant, hook.secret)
    order, handle = await start_order(skipping, skipping_settings, engine, tenant, paymentStatus="PAID")
    await skipping.sleep(timedelta(seconds=GRACE - 1))
    assert (await handle.query(OrderWorkflow.order)).status == "OPEN"
    assert "order.fulfillable" not in types(engine, tenant, order.id)
    await skipping.sleep(timedelta(seconds=2))
    (delivery,) = await endpoint.wait_for(1)
    data = delivery.body["data"]
    assert data["orderNo"] == order.tenant_order_id and data["status"] == "PROMISED"
    assert [(f["locationRef"], f["variants"]) for f in data["fulfillments"]] == [
        ("WH", [{"variant": "SKU-1", "quantity": 2}])
    ]
    promised = await handle.query(OrderWorkflow.order)
    placed = (await handle.describe()).start_time
    assert promised.fulfillable_at is not None
    assert timedelta(seconds=GRACE) <= promised.fulfillable_at - placed < timedelta(seconds=GRACE + 1)


async def test_an_order_cancelled_in_the_grace_period_is_never_fulfillable(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine
) -> None:
    tenant = f"g-{uuid.uuid4().hex[:8]}"
    order, handle = await start_order(skipping, skipping_settings, engine, tenant, paymentStatus="PAID")
    await skipping.sleep(timedelta(seconds=300))
    with skipping.auto_time_skipping_disabled():  # the cancel lands at 300 s, not after the next timer
        await handle.execute_update(OrderWorkflow.act, OrderAction(name="CANCEL", user="customer"))
    await skipping.sleep(timedelta(days=1))
    final = await handle.result()
    assert final.status == "CANCELLED" and final.fulfillments == []
    assert types(engine, tenant, order.id) == ["order.created", "order.cancelled"]


async def test_an_unpaid_order_waits_for_payment(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine
) -> None:
    tenant = f"g-{uuid.uuid4().hex[:8]}"
    order, handle = await start_order(skipping, skipping_settings, engine, tenant, paymentMethod="CARD")
    await skipping.sleep(timedelta(days=2))
    assert (await handle.query(OrderWorkflow.order)).status == "OPEN"
    with skipping.auto_time_skipping_disabled():
        await handle.execute_update(OrderWorkflow.act, OrderAction(name="MARK_PAID", user="psp"))
    await skipping.sleep(timedelta(seconds=1))  # the grace period, counted from placement, is long over
    assert (await handle.query(OrderWorkflow.order)).status == "PROMISED"
    assert types(engine, tenant, order.id) == ["order.created", "order.paid", "order.fulfillable"]
