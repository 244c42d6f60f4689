"""The Fulfilment Options API (Fluent v4.1 shape; its routes keep Fluent's spelling).

A request is computed in this process, on the replica's cached snapshot of the tenant's network (see
`storage.network.NetworkCache`), by the engine configuration its flexType and flexVersion name, and
stored before the answer goes out: options commit nothing, so they need no workflow.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, NetworkDep, require
from domain.errors import DomainError
from domain.ids import new_options_id
from domain.model import CamelModel
from domain.sourcing.options import OptionsRequest, compute
from storage import options
from storage.network import NetworkCache
from storage.tenants import Principal

router = APIRouter(prefix="/api/v4.1/fulfilmentOptions", tags=["fulfilment options"])
Reader = Annotated[Principal, Depends(require("options:read"))]
Writer = Annotated[Principal, Depends(require("options:write"))]
STATE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class StateChange(CamelModel):
    id: str


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


@router.put("/state/{stateName}")
async def change_state(
    state_name: Annotated[
        str, Path(alias="stateName", pattern=STATE.pattern, description="UPPER_SNAKE_CASE")
    ],
    body: StateChange,
    engine: EngineDep,
    p: Writer,
) -> dict[str, Any]:
    """Move the options to another state (UPPER_SNAKE_CASE, e.g. `OPTIONS_SELECTED`)."""
    if not STATE.match(state_name):
        raise DomainError.one("INVALID_STATE", "a state name is UPPER_SNAKE_CASE", "stateName")
    return await run_in_threadpool(
        options.set_status, engine, p.tenant, body.id, state_name, datetime.now(UTC)
    )
