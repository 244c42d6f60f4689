"""The earliest pickup time of a pickup session (the seed's `calculate_earliest_pickup_time`).

A read: it commits nothing. The session's workflow says its state; the stock and the queue of open
pickups come from the database, which locations are near from the replica's cached network
snapshot; the clock is now, or the `at` asked about.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, NetworkDep, SessionsDep, require
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
    Transfer,
    earliest,
    has_all,
    needed,
)
from domain.process import ProcessDefinition
from domain.sourcing.model import Location, SourcingProfile
from domain.sourcing.network import CAPABILITY_BITS, Network
from storage import network, processes, reservations, sessions
from storage.network import NetworkCache
from storage.tenants import Principal

router = APIRouter(tags=["sessions"])
NEAREST = 10  # the other click-and-collect locations considered for alternatives
Reader = Annotated[Principal, Depends(require("sessions:read"))]


@router.post(
    "/sessions/{session_id}/calculate_earliest_pickup_time",
    response_model=EarliestPickup,
    responses={
        409: {
            "description": "The session has ended, its process or the location has no pickup, or no stock or "
            "opening allows one."
        }
    },
)
async def calculate_earliest_pickup_time(
    session_id: str, body: PickupRequest, engine: EngineDep, client: SessionsDep, cache: NetworkDep, p: Reader
) -> EarliestPickup:
    """When the customer can pick up at the session's location (or another), with why: the stock
    (there, or a transfer), the queue of pickups ahead and the preparation, in the location's
    opening hours; the nearest other click-and-collect locations beside it."""
    view = await client.view(p.tenant, session_id)
    if view.terminal:
        raise Conflict.one("SESSION_ENDED", f"the session is {view.status}", "status")
    pickups = await pickup_processes(engine, p.tenant)
    if view.process_type not in pickups:
        raise Conflict.one("NO_PICKUP", f"a {view.process_type} session has no pickup", "processType")
    ref = body.location_ref or view.context.get("locationRef")
    if not isinstance(ref, str) or not ref:
        raise DomainError.one(
            "LOCATION_REQUIRED", "the session has no context.locationRef: give one", "locationRef"
        )
    items = body.items or session_items(view.context.get("items"))
    now = (body.at or datetime.now(UTC)).astimezone(UTC)
    ask = Ask(p.tenant, session_id, view.process_type, ref, items, now, pickups)
    return await run_in_threadpool(calculate, engine, cache, ask)


async def pickup_processes(engine: Any, tenant: str) -> dict[str, ProcessDefinition]:
    """The tenant's pickup processes (latest versions), by type."""
    definitions = await run_in_threadpool(processes.list_latest, engine, tenant, code_definitions())
    return {d.type: d for d in definitions if d.pickup}


def session_items(given: Any) -> list[PickupItem]:
    """The session's own `context.items` (`[{"sku", "quantity"}]`)."""
    if not given:
        raise DomainError.one("ITEMS_REQUIRED", "the session has no context.items: give items", "items")
    try:
        return [PickupItem.model_validate(i) for i in given]
    except (ValidationError, TypeError):
        raise DomainError.one(
            "INVALID_ITEMS",
            "the session's context.items are not a list of {sku, quantity}: give items",
            "items",
        ) from None


@dataclass(frozen=True)
class Ask:
    tenant: str
    session_id: str
    process_type: str
    location_ref: str
    items: list[PickupItem]
    now: datetime
    pickups: dict[str, ProcessDefinition]  # the tenant's pickup processes, by type


def calculate(engine: Any, cache: NetworkCache, ask: Ask) -> EarliestPickup:
    """The asked location's answer and its nearest alternatives: only the locations involved are
    read (the nearest by the cached network snapshot, those holding the stock), never all of them.
    What the session holds itself counts as available to it."""
    snap = cache.snapshot(ask.tenant)
    net, profile = snap.network, snap.profile
    location = network.locations_named(engine, ask.tenant, [ask.location_ref]).get(ask.location_ref)
    if location is None:
        raise NotFound([FieldError("LOCATION_NOT_FOUND", f"no location {ask.location_ref!r}", "locationRef")])
    if "CC" not in location.capabilities:
        raise Conflict.one(
            "NOT_A_PICKUP_LOCATION", f"{location.ref} takes no click & collect (capabilities)", "locationRef"
        )
    stock = network.available(engine, ask.tenant, needed(ask.items))
    for hold in reservations.of_owner(engine, ask.tenant, ask.session_id):
        here = stock.setdefault(hold.location_ref, {})
        here[hold.sku_ref] = here.get(hold.sku_ref, 0) + hold.quantity
    holders = [ref for ref, held in stock.items() if has_all(held, ask.items)]
    distances = net.distances_km(location.latitude, location.longitude)
    pickup = CAPABILITY_BITS["CC"]
    nearest = [
        net.refs[i]
        for i in np.argsort(distances, kind="stable")
        if net.capabilities[i] & pickup and net.refs[i] != location.ref
    ][:NEAREST]
    named = network.locations_named(engine, ask.tenant, [*holders, *nearest])
    queued = _queued(engine, ask)

    def at(loc: Location) -> tuple[datetime, Basis]:
        return earliest(
            loc,
            ask.process_type,
            ask.items,
            ask.now,
            stock.get(loc.ref, {}),
            _transfers(loc, holders, named, net, profile) if profile.allow_transfers else [],
            queued.get(loc.ref, 0),
        )

    try:
        when, basis = at(location)
    except NoPickup as e:
        raise Conflict.one(e.code, str(e), e.field) from None
    alternatives = []
    for ref in nearest:
        if ref in named:
            with contextlib.suppress(NoPickup):
                alternatives.append(Alternative(location_ref=ref, earliest_pickup_time=at(named[ref])[0]))
    alternatives.sort(key=lambda a: (a.earliest_pickup_time, a.location_ref))
    return EarliestPickup(
        earliest_pickup_time=when,
        location_ref=location.ref,
        basis=basis,
        alternatives=alternatives[:ALTERNATIVES],
    )


def _transfers(
    to: Location, holders: list[str], named: dict[str, Location], net: Network, profile: SourcingProfile
) -> list[Transfer]:
    """The locations that could ship every item to `to` (they deliver: `HD`), each with its lead time
    and the trip at the profile's speed (what the sourcing engine counts for a transfer)."""
    if not holders:
        return []
    distances = net.distances_km(to.latitude, to.longitude)
    found = []
    for ref in holders:
        source, index = named.get(ref), net.index.get(ref)
        if source is None or index is None or ref == to.ref or "HD" not in source.capabilities:
            continue
        found.append(
            Transfer(location_ref=ref, hours=source.lead_time_hours + distances[index] / profile.speed_kmh)
        )
    return found


def _queued(engine: Any, ask: Ask) -> dict[str, int]:
    """Pickups ahead at each location: open sessions of pickup processes not yet in a prepared state."""
    counts = sessions.open_at_locations(engine, ask.tenant, list(ask.pickups), exclude=ask.session_id)
    queued: dict[str, int] = {}
    for (ref, type_, status), n in counts.items():
        if status not in ask.pickups[type_].prepared_states:
            queued[ref] = queued.get(ref, 0) + n
    return queued
