"""The Fulfilment Options API (Fluent v4.1 shape; its routes keep Fluent's spelling): each request runs
as a workflow of its flexType and flexVersion."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, OptionsDep, require
from domain.errors import DomainError
from domain.ids import new_options_id
from domain.model import CamelModel
from domain.sourcing.jobs import OptionsJob
from domain.sourcing.options import OptionsRequest, check_request
from storage import network, options
from storage.tenants import Principal

router = APIRouter(prefix="/api/v4.1/fulfilmentOptions", tags=["fulfilment options"])
Reader = Annotated[Principal, Depends(require("options:read"))]
Writer = Annotated[Principal, Depends(require("options:write"))]
STATE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class StateChange(CamelModel):
    id: str


@router.post("", status_code=200)
async def create_options(
    request: OptionsRequest,
    engine: EngineDep,
    client: OptionsDep,
    p: Writer,
    mode: Annotated[
        str, Query(pattern="^(heuristic|exact)$", description="`exact`: also solve the MILP.")
    ] = "heuristic",
) -> dict[str, Any]:
    """Source the order: plans across the network, best first, and what cannot be fulfilled, with why."""
    # Refused before a workflow starts: bad input never becomes a failed run.
    await run_in_threadpool(check_request, request, partial(network.has_location, engine, p.tenant))
    options_id = new_options_id()
    job = OptionsJob(
        tenant=p.tenant,
        options_id=options_id,
        request=request,
        exact=mode == "exact",
        created_on=datetime.now(UTC),
    )
    return (await client.compute(job)).body


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
