"""The Fulfilment Options API (Fluent v4.1 shape; its routes keep Fluent's spelling).

A request is computed in this process, on the replica's cached snapshot of the tenant's network (see
`storage.network.NetworkCache`), by the engine configuration its flexType and flexVersion name, and
stored before the answer goes out: options commit nothing, so they need no workflow. Selecting one
of their plans holds its stock (reservations owned by the plan) until the options are confirmed or
cancelled, or an `OptionsHold` workflow's durable timer lets it go.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, NetworkDep, OrdersDep, SettingsDep, require
from domain.errors import Conflict, DomainError
from domain.ids import new_options_id
from domain.model import CamelModel
from domain.orders import OptionsHold
from domain.sourcing.options import MOVES, SELECTED, STATES, STATUS_PROVIDED, OptionsRequest, compute
from storage import options, reservations
from storage.network import NetworkCache
from storage.reservations import Hold, Shortage
from storage.tenants import Principal

router = APIRouter(prefix="/api/v4.1/fulfilmentOptions", tags=["fulfilment options"])
Reader = Annotated[Principal, Depends(require("options:read"))]
Writer = Annotated[Principal, Depends(require("options:write"))]
STATE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class StateChange(CamelModel):
    id: str
    plan_id: str | None = Field(None, min_length=1, max_length=64, description="SELECTED: the plan chosen.")


@router.post("", status_code=200, response_model=dict[str, Any])
async def create_options(
    request: OptionsRequest,
    engine: EngineDep,
    cache: NetworkDep,
    p: Writer,
    mode: Annotated[
        str, Query(pattern="^(heuristic|exact)$", description="`exact`: also solve the MILP.")
    ] = "heuristic",
) -> JSONResponse:
    """Source the order: plans across the network, best first, and what cannot be fulfilled, with why."""
    body = await run_in_threadpool(_source, engine, cache, p.tenant, request, mode == "exact")
    return JSONResponse(body)  # already JSON-safe: no second walk through the encoder


def _source(
    engine: Engine, cache: NetworkCache, tenant: str, request: OptionsRequest, solve: bool
) -> dict[str, Any]:
    """Compute and store, in one worker thread: the engine and the MILP stay off the event loop."""
    options_id, created_on = new_options_id(), datetime.now(UTC)
    body = compute(cache.snapshot(tenant), request, options_id, created_on, solve)
    options.save(engine, tenant, options_id, body, created_on)
    return body


@router.get("/{options_id}")
async def get_options(options_id: str, engine: EngineDep, p: Reader) -> dict[str, Any]:
    return await run_in_threadpool(options.get, engine, p.tenant, options_id)


@router.put(
    "/state/{stateName}",
    responses={
        409: {"description": "An unknown state, a move the options do not allow, or stock taken meanwhile."}
    },
)
async def change_state(
    state_name: Annotated[
        str, Path(alias="stateName", pattern=STATE.pattern, description="UPPER_SNAKE_CASE")
    ],
    body: StateChange,
    engine: EngineDep,
    settings: SettingsDep,
    orders: OrdersDep,
    p: Writer,
) -> dict[str, Any]:
    """Move the options: `SELECTED` (with the `planId` chosen: its stock is held for
    `FULFILLMENT_OPTIONS_HOLD_SECONDS`, 15 minutes by default), then `CONFIRMED` or `CANCELLED`
    (the hold is released either way); a selection not confirmed in time becomes `EXPIRED`. The
    `OPTIONS_` prefix may be given or left out."""
    if not STATE.match(state_name):
        raise DomainError.one("INVALID_STATE", "a state name is UPPER_SNAKE_CASE", "stateName")
    target = state_name if state_name.startswith("OPTIONS_") else f"OPTIONS_{state_name}"
    current = await run_in_threadpool(options.get, engine, p.tenant, body.id)
    if target not in STATES:
        names = ", ".join(s.removeprefix("OPTIONS_") for s in STATES)
        raise Conflict.one(
            "UNKNOWN_STATE", f"{state_name!r} is not a state of options ({names})", "stateName"
        )
    allowed = MOVES.get(current["status"], ())
    if target not in allowed:
        raise Conflict.one(
            "STATE_NOT_ALLOWED",
            f"options in {current['status']} move to {', '.join(allowed) or 'nothing'}",
            "stateName",
        )
    now = datetime.now(UTC)
    if target != SELECTED:
        moved = await run_in_threadpool(
            options.move, engine, p.tenant, body.id, current["status"], target, now
        )
        if moved is None:
            raise Conflict.one("STATE_CHANGED", "the options moved meanwhile: read them again", "stateName")
        if current.get("selectedPlanId"):
            await run_in_threadpool(reservations.settle, engine, p.tenant, [current["selectedPlanId"]], False)
        return moved
    plan = next((x for x in current.get("plans", []) if x["planId"] == body.plan_id), None)
    if plan is None:
        raise DomainError.one("UNKNOWN_PLAN", f"these options have no plan {body.plan_id!r}", "planId")
    holds = [
        Hold(
            owner_id=plan["planId"],
            location_ref=f["locationRef"],
            sku_ref=i["skuRef"],
            quantity=i["availableQty"],
        )
        for f in plan["fulfilments"]
        for i in f["items"]
    ]
    # The timer first: if this replica dies past this point, the timer still frees what was taken.
    hold = OptionsHold(
        tenant=p.tenant, options_id=body.id, plan_id=plan["planId"], seconds=settings.options_hold_seconds
    )
    await orders.hold_options(hold)
    try:
        await run_in_threadpool(reservations.reserve, engine, p.tenant, None, holds, now, "plan")
    except Shortage as e:
        raise Conflict.one(
            "STOCK_TAKEN",
            f"{e.sku_ref} at {e.location_ref} was taken meanwhile: ask for options again",
            "planId",
        ) from None
    until = now + timedelta(seconds=settings.options_hold_seconds)
    moved = await run_in_threadpool(
        lambda: options.move(
            engine,
            p.tenant,
            body.id,
            STATUS_PROVIDED,
            SELECTED,
            now,
            selectedPlanId=plan["planId"],
            holdUntil=until.isoformat(),
        )
    )
    if moved is None:  # selected meanwhile by another request: its hold stands, not this one
        await run_in_threadpool(reservations.settle, engine, p.tenant, [plan["planId"]], False)
        raise Conflict.one("STATE_CHANGED", "the options moved meanwhile: read them again", "stateName")
    return moved
