"""Orders (fulfillmenttools' API), their configurations, and fulfillments and shipments (Spresso's API)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import EngineDep, SettingsDep, TemporalDep, require
from api.errors import ApiError
from domain.errors import DomainError, FieldError
from domain.model import CamelModel
from domain.orders import (
    Action,
    Consumer,
    FulfillableConfig,
    Fulfillment,
    FulfillmentUpdate,
    ModificationConfig,
    Order,
    OrderCreate,
    OrderPatch,
    Shipment,
    new_order,
)
from storage import orders
from storage.tables import OrderClaimRow
from storage.tenants import Principal
from workflows import search_attributes as sa
from workflows.order import FulfillmentCommand, Modify, OrderAction, OrderStart, OrderWorkflow

router = APIRouter(tags=["orders"])
Reader = Annotated[Principal, Depends(require("orders:read"))]
Writer = Annotated[Principal, Depends(require("orders:write"))]
MODIFICATION, FULFILLABLE = "ordermodification", "fulfillable"
CLAIM_ORPHAN_AFTER = timedelta(minutes=1)


class OrderPage(CamelModel):
    items: list[Order]
    total: int


class ActionBody(CamelModel):
    name: Action
    consumer: Consumer | None = None


def order_workflow_id(tenant: str, order_id: str) -> str:
    return f"order:{tenant}:{order_id}"


async def _update(
    client: Client, tenant: str, order_id: str, name: str, arg: Any, finished: bool = False
) -> Order:
    """Send an Update to the order's workflow; a refused one comes back as its 4xx."""
    handle = client.get_workflow_handle(order_workflow_id(tenant, order_id))
    try:
        result: Order = await handle.execute_update(name, arg, result_type=Order)
        return result
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        if isinstance(cause, ApplicationError) and cause.type == "DomainError" and cause.details:
            detail = cause.details[0]
            error = DomainError([FieldError(**x) for x in detail["errors"]])
            error.status = detail["status"]
            error.title = {
                403: "Forbidden",
                404: "Not found",
                409: "Conflict",
                422: "Unprocessable content",
            }.get(detail["status"], "Bad request")
            raise error from None
        raise
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:  # no such order, or one that has finished
            raise ApiError(
                404 if not finished else 409,
                "ORDER_NOT_FOUND" if not finished else "ORDER_CLOSED",
                f"no open order {order_id!r}",
                "id",
            ) from None
        raise


async def _orphaned(client: Client, tenant: str, holder: OrderClaimRow, now: datetime) -> bool:
    """A claim whose order never started: its API request died between claiming and starting the
    workflow. Only claims older than a minute count, so a request still on its way is not robbed."""
    if holder.claimed_at is None or now - _aware(holder.claimed_at) < CLAIM_ORPHAN_AFTER:
        return False
    try:
        await client.get_workflow_handle(order_workflow_id(tenant, holder.order_id)).describe()
    except RPCError as e:
        return e.status == RPCStatusCode.NOT_FOUND
    return False


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.post("/api/orders", status_code=200, response_model=Order)
async def create_order(
    body: OrderCreate, engine: EngineDep, client: TemporalDep, settings: SettingsDep, p: Writer
) -> Order:
    """Place an order (the seed's body as is); 409 while another with its tenantOrderId is active."""
    order_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    try:
        await run_in_threadpool(orders.claim, engine, p.tenant, body.tenant_order_id, order_id, now)
    except orders.Claimed as e:
        holder = e.holder
        if holder is None or not await _orphaned(client, p.tenant, holder, now):
            raise
        orphan = holder.order_id
        if not await run_in_threadpool(
            orders.take_over, engine, p.tenant, body.tenant_order_id, orphan, order_id, now
        ):
            raise
    order = new_order(p.tenant, order_id, body, now)
    config = await run_in_threadpool(orders.config, engine, p.tenant, FULFILLABLE, FulfillableConfig)
    try:
        await client.start_workflow(
            OrderWorkflow.run,
            OrderStart(order=order, fulfillable=config),
            id=order_workflow_id(p.tenant, order_id),
            task_queue=settings.task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TENANT, p.tenant),
                    SearchAttributePair(sa.REFERENCE, body.tenant_order_id),
                    SearchAttributePair(sa.STATUS, "OPEN"),
                ]
            ),
            static_summary=f"order {body.tenant_order_id} ({len(body.order_line_items)} line(s))",
        )
    except Exception:
        await run_in_threadpool(orders.release, engine, p.tenant, body.tenant_order_id, order_id)
        raise
    return order


@router.get("/api/orders/{order_id}", response_model=Order)
async def get_order(order_id: str, engine: EngineDep, client: TemporalDep, p: Reader) -> Order:
    """The order as its workflow holds it (strongly consistent)."""
    try:
        result: Order = await client.get_workflow_handle(order_workflow_id(p.tenant, order_id)).query(
            "order", result_type=Order
        )
        return result
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise DomainError.not_found("order", order_id) from None
        raise


@router.get("/api/orders", response_model=OrderPage)
async def list_orders(
    engine: EngineDep,
    p: Reader,
    status: str | None = None,
    tenant_order_id: Annotated[str | None, Query(alias="tenantOrderId")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrderPage:
    items, total = await run_in_threadpool(
        orders.list_orders, engine, p.tenant, status, tenant_order_id, limit, offset
    )
    return OrderPage(items=items, total=total)


@router.patch("/api/orders/{order_id}", response_model=Order)
async def modify_order(
    order_id: str, body: OrderPatch, engine: EngineDep, client: TemporalDep, p: Writer
) -> Order:
    """Change quantities by line id, custom attributes or the preferred handling time; send `version`."""
    config = await run_in_threadpool(orders.config, engine, p.tenant, MODIFICATION, ModificationConfig)
    return await _update(
        client, p.tenant, order_id, "modify", Modify(patch=body, config=config, user=f"key:{p.key_id}")
    )


@router.post("/api/orders/{order_id}/actions", response_model=Order)
async def order_action(order_id: str, body: ActionBody, client: TemporalDep, p: Writer) -> Order:
    """`MARK_PAID`, `UPDATE_CONSUMER` (with `consumer`), `CANCEL` (an admin key once fulfillable)."""
    action = OrderAction(
        name=body.name,
        consumer=body.consumer,
        admin="admin" in p.scopes,
        user=f"key:{p.key_id}",
    )
    return await _update(client, p.tenant, order_id, "act", action)


@router.get("/api/configurations/ordermodification", response_model=ModificationConfig)
async def get_modification_config(engine: EngineDep, p: Reader) -> ModificationConfig:
    return await run_in_threadpool(orders.config, engine, p.tenant, MODIFICATION, ModificationConfig)


@router.put("/api/configurations/ordermodification", response_model=ModificationConfig)
async def put_modification_config(
    body: ModificationConfig, engine: EngineDep, p: Writer
) -> ModificationConfig:
    return await run_in_threadpool(orders.save_config, engine, p.tenant, MODIFICATION, body)


@router.get("/api/configurations/fulfillable", response_model=FulfillableConfig)
async def get_fulfillable_config(engine: EngineDep, p: Reader) -> FulfillableConfig:
    return await run_in_threadpool(orders.config, engine, p.tenant, FULFILLABLE, FulfillableConfig)


@router.put("/api/configurations/fulfillable", response_model=FulfillableConfig)
async def put_fulfillable_config(body: FulfillableConfig, engine: EngineDep, p: Writer) -> FulfillableConfig:
    """The grace period for orders placed from now on (placed orders keep theirs)."""
    return await run_in_threadpool(orders.save_config, engine, p.tenant, FULFILLABLE, body)


@router.get("/v1/fulfillments/{fulfillment_id}", response_model=Fulfillment)
async def get_fulfillment(fulfillment_id: str, engine: EngineDep, p: Reader) -> Fulfillment:
    return await run_in_threadpool(orders.fulfillment, engine, p.tenant, fulfillment_id)


@router.put("/v1/fulfillments/{fulfillment_id}/shipments", response_model=Fulfillment)
async def add_shipment(
    fulfillment_id: str, body: Shipment, engine: EngineDep, client: TemporalDep, p: Writer
) -> Fulfillment:
    """Record a shipment (carrier, tracking); its quantities are checked against the fulfillment."""
    return await _fulfillment_command(
        engine, client, p, FulfillmentCommand(fulfillment_id=fulfillment_id, shipment=body)
    )


@router.put("/v1/fulfillments/{fulfillment_id}", response_model=Fulfillment)
async def update_fulfillment(
    fulfillment_id: str, body: FulfillmentUpdate, engine: EngineDep, client: TemporalDep, p: Writer
) -> Fulfillment:
    """`in_transit` with every variant's `fulfilledQuantity` (422 when one is missing), then `delivered`."""
    return await _fulfillment_command(
        engine, client, p, FulfillmentCommand(fulfillment_id=fulfillment_id, update=body)
    )


async def _fulfillment_command(
    engine: Any, client: Client, p: Principal, command: FulfillmentCommand
) -> Fulfillment:
    known = await run_in_threadpool(orders.fulfillment, engine, p.tenant, command.fulfillment_id)
    order = await _update(client, p.tenant, known.order_id, "fulfillment", command)
    return next(f for f in order.fulfillments if f.id == command.fulfillment_id)
