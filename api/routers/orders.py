"""Orders (fulfillmenttools' API), their configurations, and fulfillments and shipments (Spresso's API)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, EngineDep, OrdersDep, require
from api.idempotency import IdempotencyKey, idempotent, request_hash
from clients.orders import OrderClient
from domain.errors import NotFound
from domain.ids import new_order_id, shipment_update_id
from domain.model import MAX_INT, CamelModel
from domain.orders import (
    Action,
    Consumer,
    FulfillableConfig,
    Fulfillment,
    FulfillmentCommand,
    FulfillmentUpdate,
    ModificationConfig,
    Modify,
    Order,
    OrderAction,
    OrderCreate,
    OrderPatch,
    Shipment,
    destination,
    new_order,
)
from storage import logistics, network, orders
from storage.tables import OrderClaimRow
from storage.tenants import Principal

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


async def _orphaned(client: OrderClient, tenant: str, holder: OrderClaimRow, now: datetime) -> bool:
    """A claim whose order never started: its API request died between claiming and starting the
    workflow. Only claims older than a minute count, so a request still on its way is not robbed."""
    if holder.claimed_at is None or now - _aware(holder.claimed_at) < CLAIM_ORPHAN_AFTER:
        return False
    return not await client.exists(tenant, holder.order_id)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.post("/api/orders", status_code=200, response_model=Order)
async def create_order(
    request: Request,
    body: OrderCreate,
    engine: EngineDep,
    client: OrdersDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Place an order (the seed's body as is); 409 while another with its tenantOrderId is active.
    Fields the service sets (`status`, `fulfillments`, …) are refused, and so is anything routing
    could not use: a pickup location that does not exist (404), a coordinate that is not a number."""

    async def respond() -> tuple[int, Any]:
        order = await _place(engine, client, p.tenant, body)
        return 200, order.model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


async def _place(engine: Engine, client: OrderClient, tenant: str, body: OrderCreate) -> Order:
    order_id = new_order_id()
    now = datetime.now(UTC)
    order = new_order(tenant, order_id, body, now)
    _, pickup, _, _ = destination(body.delivery_preferences, body.consumer)
    if pickup is not None and not await run_in_threadpool(network.has_location, engine, tenant, pickup):
        message = f"no pickup location {pickup!r}"
        raise NotFound.one("UNKNOWN_LOCATION", message, "deliveryPreferences.collect.locationRef")
    try:
        await run_in_threadpool(orders.claim, engine, tenant, body.tenant_order_id, order_id, now)
    except orders.Claimed as e:
        holder = e.holder
        if holder is None or not await _orphaned(client, tenant, holder, now):
            raise
        orphan = holder.order_id
        if not await run_in_threadpool(
            orders.take_over, engine, tenant, body.tenant_order_id, orphan, order_id, now
        ):
            raise
    config = await run_in_threadpool(orders.config, engine, tenant, FULFILLABLE, FulfillableConfig)
    try:
        await client.start(order, config)
    except Exception:
        # The start may have reached Temporal before it failed: release the id only for an order
        # that surely never started; otherwise the claim stays (an orphan is taken over later).
        with contextlib.suppress(Exception):
            if not await client.exists(tenant, order_id):
                await run_in_threadpool(orders.release, engine, tenant, body.tenant_order_id, order_id)
        raise
    return order


@router.get("/api/orders/{order_id}", response_model=Order)
async def get_order(order_id: str, client: OrdersDep, p: Reader) -> Order:
    """The order as its workflow holds it (strongly consistent)."""
    return await client.get(p.tenant, order_id)


@router.get("/api/orders", response_model=OrderPage)
async def list_orders(
    engine: EngineDep,
    p: Reader,
    status: str | None = None,
    tenant_order_id: Annotated[str | None, Query(alias="tenantOrderId")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> OrderPage:
    items, total = await run_in_threadpool(
        orders.list_orders, engine, p.tenant, status, tenant_order_id, limit, offset
    )
    return OrderPage(items=items, total=total)


@router.patch("/api/orders/{order_id}", response_model=Order)
async def modify_order(
    order_id: str, body: OrderPatch, engine: EngineDep, client: OrdersDep, p: Writer
) -> Order:
    """Change quantities by line id, custom attributes or the preferred handling time; send `version`."""
    config = await run_in_threadpool(orders.config, engine, p.tenant, MODIFICATION, ModificationConfig)
    return await client.modify(p.tenant, order_id, Modify(patch=body, config=config, user=p.actor()))


@router.post("/api/orders/{order_id}/actions", response_model=Order)
async def order_action(order_id: str, body: ActionBody, client: OrdersDep, p: Writer) -> Order:
    """`MARK_PAID`, `UPDATE_CONSUMER` (with `consumer`), `CANCEL` (an admin key once fulfillable)."""
    action = OrderAction(
        name=body.name,
        consumer=body.consumer,
        admin="admin" in p.scopes,
        user=p.actor(),
    )
    return await client.act(p.tenant, order_id, action)


@router.get("/api/configurations/ordermodification", response_model=ModificationConfig)
async def get_modification_config(engine: EngineDep, p: Reader) -> ModificationConfig:
    return await run_in_threadpool(orders.config, engine, p.tenant, MODIFICATION, ModificationConfig)


@router.put("/api/configurations/ordermodification", response_model=ModificationConfig)
async def put_modification_config(
    body: ModificationConfig, engine: EngineDep, p: Admin
) -> ModificationConfig:
    return await run_in_threadpool(orders.save_config, engine, p.tenant, MODIFICATION, body)


@router.get("/api/configurations/fulfillable", response_model=FulfillableConfig)
async def get_fulfillable_config(engine: EngineDep, p: Reader) -> FulfillableConfig:
    return await run_in_threadpool(orders.config, engine, p.tenant, FULFILLABLE, FulfillableConfig)


@router.put("/api/configurations/fulfillable", response_model=FulfillableConfig)
async def put_fulfillable_config(body: FulfillableConfig, engine: EngineDep, p: Admin) -> FulfillableConfig:
    """The grace period for orders placed from now on (placed orders keep theirs)."""
    return await run_in_threadpool(orders.save_config, engine, p.tenant, FULFILLABLE, body)


@router.get("/v1/fulfillments/{fulfillment_id}", response_model=Fulfillment)
async def get_fulfillment(fulfillment_id: str, engine: EngineDep, p: Reader) -> Fulfillment:
    return await run_in_threadpool(orders.fulfillment, engine, p.tenant, fulfillment_id)


@router.put("/v1/fulfillments/{fulfillment_id}/shipments", response_model=Fulfillment)
async def add_shipment(
    fulfillment_id: str, body: Shipment, engine: EngineDep, client: OrdersDep, p: Writer
) -> Fulfillment:
    """Record a shipment (carrier, tracking); its quantities are checked against the fulfillment.
    Idempotent like any PUT: the same shipment sent again is recorded once; another shipment with a
    tracking number the fulfillment has already is a 409."""
    update_id = shipment_update_id(fulfillment_id, body.model_dump_json())
    await run_in_threadpool(orders.fulfillment, engine, p.tenant, fulfillment_id)  # 404 before the quote
    promise = await run_in_threadpool(logistics.promise, engine, p.tenant, body.quote_id, body.carrier)
    command = FulfillmentCommand(fulfillment_id=fulfillment_id, shipment=body, promise=promise)
    return await _fulfillment_command(engine, client, p, command, update_id)


@router.put("/v1/fulfillments/{fulfillment_id}", response_model=Fulfillment)
async def update_fulfillment(
    fulfillment_id: str, body: FulfillmentUpdate, engine: EngineDep, client: OrdersDep, p: Writer
) -> Fulfillment:
    """`in_transit` with every variant's `fulfilledQuantity` (422 when one is missing), then `delivered`."""
    return await _fulfillment_command(
        engine, client, p, FulfillmentCommand(fulfillment_id=fulfillment_id, update=body)
    )


async def _fulfillment_command(
    engine: Engine,
    client: OrderClient,
    p: Principal,
    command: FulfillmentCommand,
    update_id: str | None = None,
) -> Fulfillment:
    known = await run_in_threadpool(orders.fulfillment, engine, p.tenant, command.fulfillment_id)
    order = await client.fulfillment(p.tenant, known.order_id, command, update_id)
    return next(f for f in order.fulfillments if f.id == command.fulfillment_id)
