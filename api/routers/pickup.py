"""The earliest pickup time of a pickup session (the seed's `calculate_earliest_pickup_time`).

A read: it commits nothing. The session's workflow says its state; the network (locations, stock)
and the queue of open pickups come from the database; the clock is now, or the `at` asked about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, SessionsDep, require
from clients.code import code_definitions
from domain.errors import Conflict, DomainError, FieldError, NotFound
from domain.pickup import (
    ALTERNATIVES,
    Alternative,
    Basis,
    EarliestPickup,
    NoPickup,
    PickupItem,
    PickupRequest,
    earliest,
)
from domain.sourcing.model import Location
from storage import network, processes, sessions
from storage.tenants import Principal

router = APIRouter(tags=["sessions"])
Reader = Annotated[Principal, Depends(require("sessions:read"))]


@router.post(
    "/sessions/{session_id}/calculate_earliest_pickup_time",
    response_model=EarliestPickup,
    responses={
        409: {"description": "The session has ended, its process has no pickup, or no stock or opening."}
    },
)
async def calculate_earliest_pickup_time(
    session_id: str, body: PickupRequest, engine: EngineDep, client: SessionsDep, p: Reader
) -> EarliestPickup:
    """When the customer can pick up at the session's location (or another), with why: the stock
    (there, or a transfer), the preparation time, the queue of open pickups against the location's
    hourly capacity, and the opening window; the nearest alternatives beside it."""
    view = await client.view(p.tenant, session_id)
    if view.terminal:
        raise Conflict.one("SESSION_ENDED", f"the session is {view.status}", "status")
    definition = await run_in_threadpool(
        processes.get, engine, p.tenant, view.process_type, view.process_version, code_definitions()
    )
    if not definition.pickup:
        raise Conflict.one("NO_PICKUP", f"a {view.process_type} session has no pickup", "processType")
    ref = body.location_ref or view.context.get("locationRef")
    if not isinstance(ref, str) or not ref:
        raise DomainError.one(
            "LOCATION_REQUIRED", "the session has no context.locationRef: give one", "locationRef"
        )
    items = body.items or _items(view.context.get("items"))
    now = (body.at or datetime.now(UTC)).astimezone(UTC)
    return await run_in_threadpool(
        _calculate, engine, p.tenant, view.process_type, session_id, ref, items, now
    )


def _items(given: Any) -> list[PickupItem]:
    """The session's own `context.items` (`[{"sku", "quantity"}]`)."""
    if not given:
        raise DomainError.one("ITEMS_REQUIRED", "the session has no context.items: give items", "items")
    try:
        return [PickupItem.model_validate(i) for i in given]
    except (ValidationError, TypeError) as e:
        raise DomainError.one(
            "INVALID_ITEMS", f"the session's context.items are not items: {e}", "items"
        ) from None


def _calculate(
    engine: Any,
    tenant: str,
    process_type: str,
    session_id: str,
    ref: str,
    items: list[PickupItem],
    now: datetime,
) -> EarliestPickup:
    locations = {loc.ref: loc for loc in network.locations(engine, tenant)}
    location = locations.get(ref)
    if location is None:
        raise NotFound([FieldError("LOCATION_NOT_FOUND", f"no location {ref!r}", "locationRef")])
    stock = network.available(engine, tenant, [i.sku for i in items])
    queued = sessions.open_by_location(engine, tenant, exclude=session_id)
    others = list(locations.values())

    def at(loc: Location) -> tuple[datetime, Basis]:
        return earliest(loc, process_type, items, now, stock, others, queued.get(loc.ref, 0))

    try:
        when, basis = at(location)
    except NoPickup as e:
        raise Conflict.one(e.code, str(e), e.field) from None
    alternatives = []
    for other in others:
        if other.ref == ref or "CC" not in other.capabilities:
            continue
        try:
            alternatives.append(Alternative(location_ref=other.ref, earliest_pickup_time=at(other)[0]))
        except NoPickup:
            continue
    alternatives.sort(key=lambda a: (a.earliest_pickup_time, a.location_ref))
    return EarliestPickup(
        earliest_pickup_time=when, location_ref=ref, basis=basis, alternatives=alternatives[:ALTERNATIVES]
    )
