"""Change proposals on a cart's pickup sessions (the seed's `propose_change`, `session_changes`,
`accept_change`). Each proposal is a `ChangeProposal` workflow; what it would do is checked and
previewed here, when it is proposed, against the stock and opening hours of the moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import ChangesDep, EngineDep, NetworkDep, PageDep, SessionsDep, SettingsDep, require
from api.routers.pickup import Ask, calculate, pickup_processes, session_items
from domain.changes import (
    PROPOSED,
    ChangeStart,
    ChangeView,
    Decide,
    Decision,
    HeldStock,
    Preview,
    ProposeChange,
    ReservationMove,
    targets,
)
from domain.errors import Conflict, DomainError, FieldError, NotFound
from domain.ids import new_change_id
from domain.pickup import HORIZON_DAYS, is_open
from storage import changes, network, reservations
from storage.tenants import Principal

router = APIRouter(tags=["changes"])
_CHANGED = {"locationRef": "changes.locationRef", "items": "changes.items"}
Reader = Annotated[Principal, Depends(require("sessions:read"))]
Writer = Annotated[Principal, Depends(require("sessions:write"))]
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "The change cannot be honoured (the session ended or has no pickup, no stock at the "
        "location, a pickup time before the earliest possible or while the location is closed), the session "
        "has an open proposal already, or the proposal was decided."
    }
}


@router.post("/carts/{cart_id}/propose_change", status_code=201, response_model=ChangeView, responses=REFUSED)
async def propose_change(
    cart_id: str,
    body: ProposeChange,
    engine: EngineDep,
    client: ChangesDep,
    sessions_: SessionsDep,
    cache: NetworkDep,
    settings: SettingsDep,
    p: Writer,
) -> ChangeView:
    """Propose a new pickup time, location or items for one of the cart's pickup sessions. It is
    announced as `change.proposed` on every channel, waits for `accept_change`, and expires after
    `expiresInSeconds`. The preview says what accepting would do."""
    try:
        view = await sessions_.view(p.tenant, body.session_id)
    except NotFound:
        view = None
    if view is None or view.cart_id != cart_id:
        raise NotFound.one(
            "SESSION_NOT_FOUND", f"cart {cart_id!r} has no session {body.session_id!r}", "sessionId"
        )
    if view.terminal:
        raise Conflict.one("SESSION_ENDED", f"the session is {view.status}", "sessionId")
    pickups = await pickup_processes(engine, p.tenant)
    if view.process_type not in pickups:
        raise Conflict.one("NO_PICKUP", f"a {view.process_type} session has no pickup to change", "sessionId")
    c = body.changes
    location_ref = c.location_ref or view.context.get("locationRef")
    if not isinstance(location_ref, str) or not location_ref:
        raise DomainError.one(
            "LOCATION_REQUIRED",
            "the session has no context.locationRef: give changes.locationRef",
            "changes.locationRef",
        )
    try:
        items = c.items or session_items(view.context.get("items"))
        now = datetime.now(UTC)
        ask = Ask(p.tenant, body.session_id, view.process_type, location_ref, items, now, pickups)
        found = await run_in_threadpool(calculate, engine, cache, ask)
    except DomainError as e:  # the calculation names its own fields: here they are the changes'
        errors = [FieldError(x.code, x.message, _CHANGED.get(x.field or "", x.field)) for x in e.errors]
        raise type(e)(errors, e.detail, e.extra) from None
    moving = c.location_ref is not None or c.items is not None
    if moving and found.basis.stock != "AVAILABLE":
        raise Conflict.one(
            "NO_STOCK",
            f"{location_ref} has not every item in stock (a transfer from {found.basis.transfer_from} could "
            f"make it by {found.earliest_pickup_time.isoformat()})",
            "changes.locationRef" if c.location_ref is not None else "changes.items",
        )
    pickup_time = c.pickup_time or _pickup_time(view.context.get("pickupTime"))
    if pickup_time is not None:
        # The session's own pickup time, kept, must suit the new place or items too.
        field = (
            "changes.pickupTime"
            if c.pickup_time
            else "changes.locationRef"
            if c.location_ref
            else "changes.items"
        )
        whose = "the pickup time" if c.pickup_time else "the session's pickup time"
        await run_in_threadpool(
            _check_time, engine, p.tenant, location_ref, pickup_time, found.earliest_pickup_time, field, whose
        )
    held = await run_in_threadpool(reservations.of_owner, engine, p.tenant, body.session_id)
    preview = Preview(
        location_ref=location_ref,
        pickup_time=pickup_time,
        earliest_pickup_time=found.earliest_pickup_time,
        stock="AVAILABLE",
        reservations=ReservationMove(
            release=[
                HeldStock(location_ref=r.location_ref, sku=r.sku_ref, quantity=r.quantity) for r in held
            ],
            reserve=targets(location_ref, items),
        )
        if moving
        else None,
    )
    change = ChangeView(
        id=new_change_id(),
        cart_id=cart_id,
        session_id=body.session_id,
        status=PROPOSED,
        changes=c,
        reason=body.reason,
        proposed_by=body.proposed_by,
        proposer=p.actor(body.actor),
        preview=preview,
        created_at=now,
        expires_at=now + timedelta(seconds=body.expires_in_seconds or settings.change_expires_seconds),
    )
    await client.propose(ChangeStart(tenant=p.tenant, view=change))
    await run_in_threadpool(changes.save_proposed, engine, p.tenant, change)
    return change


def _pickup_time(given: object) -> datetime | None:
    """The session's `context.pickupTime`, when it holds an ISO 8601 time with its offset."""
    if not isinstance(given, str):
        return None
    try:
        at = datetime.fromisoformat(given)
    except ValueError:
        return None
    return at if at.tzinfo else None


def _check_time(
    engine: Engine, tenant: str, location_ref: str, at: datetime, earliest: datetime, field: str, whose: str
) -> None:
    """A pickup time the location can keep: not before the earliest, within the days a pickup is
    planned for, and while it is open."""
    if at < earliest:
        raise Conflict.one(
            "PICKUP_TOO_EARLY",
            f"{whose} {at.isoformat()} is before the earliest possible, {earliest.isoformat()}",
            field,
        )
    if at > earliest + timedelta(days=HORIZON_DAYS):
        raise Conflict.one(
            "PICKUP_TOO_LATE",
            f"{whose} {at.isoformat()} is more than {HORIZON_DAYS} days after the earliest",
            field,
        )
    location = network.locations_named(engine, tenant, [location_ref])[location_ref]
    if not is_open(location, at):
        raise Conflict.one("LOCATION_CLOSED", f"{location_ref} is closed at {whose} {at.isoformat()}", field)


@router.get("/carts/{cart_id}/session_changes", response_model=list[ChangeView])
async def session_changes(
    cart_id: str,
    engine: EngineDep,
    p: Reader,
    page: PageDep,
    status: Annotated[
        str | None, Query(pattern="^(PROPOSED|ACCEPTED|REJECTED|EXPIRED|FAILED)$", description="Only these.")
    ] = None,
) -> list[ChangeView]:
    """The cart's change proposals, newest first, with their status and decision."""
    return await run_in_threadpool(
        changes.of_cart, engine, p.tenant, cart_id, page.limit, page.offset, status
    )


@router.post("/carts/{cart_id}/accept_change", response_model=ChangeView, responses=REFUSED)
async def accept_change(
    cart_id: str, body: Decide, engine: EngineDep, client: ChangesDep, p: Writer
) -> ChangeView:
    """Accept or reject a proposal. Accepting applies it to the session (its context, its revision
    trail, its reservations moved) and answers ACCEPTED, or FAILED with the reason when it could not
    be applied (the session as it was)."""
    found = await run_in_threadpool(changes.get, engine, p.tenant, body.change_id)
    if found.cart_id != cart_id:
        raise NotFound.one(
            "CHANGE_NOT_FOUND", f"cart {cart_id!r} has no change {body.change_id!r}", "changeId"
        )
    if found.status != PROPOSED:
        raise Conflict.one("CHANGE_DECIDED", f"the change is {found.status} already", "changeId")
    decision = Decision(
        change_id=found.id, accept=body.decision == "accept", comment=body.comment, actor=p.actor(body.actor)
    )
    return await client.decide(p.tenant, found.session_id, decision)
