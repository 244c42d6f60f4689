"""The network: locations and inventory in bulk, and the tenant's sourcing profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, OrdersDep, require
from clients.orders import OrderClient
from domain.errors import NotFound
from domain.model import MAX_INT, CamelModel
from domain.sourcing.model import InventoryPosition, Location, SourcingProfile
from storage import network, orders, reservations
from storage.tenants import Principal

router = APIRouter(tags=["network"])
Reader = Annotated[Principal, Depends(require("network:read"))]
Writer = Annotated[Principal, Depends(require("network:write"))]
MAX_ROWS = 100_000


class Locations(CamelModel):
    locations: list[Location] = Field(max_length=MAX_ROWS)


class Positions(CamelModel):
    positions: list[InventoryPosition] = Field(max_length=MAX_ROWS)


class Upserted(CamelModel):
    upserted: int


async def _wake_unroutable(engine: Engine, client: OrderClient, tenant: str) -> None:
    """Orders that nothing could be sourced for try again now that the network changed."""
    waiting = await run_in_threadpool(orders.ids_with_status, engine, tenant, "NOT_ROUTABLE")
    await client.network_changed(tenant, waiting)


@router.put("/locations", response_model=Upserted)
async def put_locations(body: Locations, engine: EngineDep, client: OrdersDep, p: Writer) -> Upserted:
    """Create or replace locations by `ref` (tens of thousands per request)."""
    count = await run_in_threadpool(
        network.upsert_locations, engine, p.tenant, body.locations, datetime.now(UTC)
    )
    await _wake_unroutable(engine, client, p.tenant)
    return Upserted(upserted=count)


@router.get("/locations", response_model=list[Location])
async def list_locations(
    engine: EngineDep,
    p: Reader,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[Location]:
    return await run_in_threadpool(network.locations, engine, p.tenant, limit, offset)


@router.get("/locations/{ref}", response_model=Location)
async def get_location(ref: str, engine: EngineDep, p: Reader) -> Location:
    return await run_in_threadpool(network.location, engine, p.tenant, ref)


@router.put("/inventory", response_model=Upserted)
async def put_inventory(body: Positions, engine: EngineDep, client: OrdersDep, p: Writer) -> Upserted:
    """Create or replace inventory positions by (`locationRef`, `skuRef`)."""
    count = await run_in_threadpool(
        network.upsert_inventory, engine, p.tenant, body.positions, datetime.now(UTC)
    )
    await _wake_unroutable(engine, client, p.tenant)
    return Upserted(upserted=count)


@router.get("/inventory", response_model=list[InventoryPosition])
async def list_inventory(
    engine: EngineDep,
    p: Reader,
    sku_ref: Annotated[str | None, Query(alias="skuRef")] = None,
    location_ref: Annotated[str | None, Query(alias="locationRef")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[InventoryPosition]:
    return await run_in_threadpool(network.inventory, engine, p.tenant, sku_ref, location_ref, limit, offset)


class Reservation(CamelModel):
    id: str
    quantity: int
    owner_kind: str = Field(description="`fulfillment`: a routed order's fulfillment holds it.")
    owner_id: str
    order_id: str | None
    created_at: datetime


@router.get("/inventory/{location_ref}/{sku_ref}/reservations", response_model=list[Reservation])
async def list_reservations(
    location_ref: str, sku_ref: str, engine: EngineDep, p: Reader
) -> list[Reservation]:
    """What the orchestrator holds of a position, oldest first: its rows add up to `reservedByOrders`."""
    found = await run_in_threadpool(network.inventory, engine, p.tenant, sku_ref, location_ref, 1, 0)
    if not found:
        raise NotFound.one("POSITION_NOT_FOUND", f"no inventory of {sku_ref!r} at {location_ref!r}", "skuRef")
    rows = await run_in_threadpool(reservations.of_position, engine, p.tenant, location_ref, sku_ref)
    return [
        Reservation.model_validate(r.model_dump(exclude={"tenant_id", "location_ref", "sku_ref"}))
        for r in rows
    ]


@router.get("/sourcing/profile", response_model=SourcingProfile)
async def get_profile(engine: EngineDep, p: Reader) -> SourcingProfile:
    return await run_in_threadpool(network.profile, engine, p.tenant)


@router.put("/sourcing/profile", response_model=SourcingProfile)
async def put_profile(body: SourcingProfile, engine: EngineDep, p: Writer) -> SourcingProfile:
    """Replace the profile; send the `version` you read (409 when it moved meanwhile)."""
    return await run_in_threadpool(
        network.save_profile, engine, p.tenant, body, body.version, datetime.now(UTC)
    )
