"""The Fulfilment Options API (Fluent v4.1 shape): each request runs as a workflow of its flexType/version."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from api.deps import EngineDep, SettingsDep, TemporalDep, require
from api.errors import ApiError
from domain.errors import DomainError, FieldError
from domain.model import CamelModel
from domain.sourcing.jobs import WORKFLOW_TYPES, OptionsAnswer, OptionsJob, options_workflow_id
from domain.sourcing.options import FLEX_TYPE, FLEX_VERSION, OptionsRequest
from storage import network, options
from storage.tenants import Principal

router = APIRouter(prefix="/api/v4.1/fulfilmentOptions", tags=["fulfilment options"])
Reader = Annotated[Principal, Depends(require("options:read"))]
Writer = Annotated[Principal, Depends(require("options:write"))]
STATE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


class StateChange(CamelModel):
    id: str


def _check(engine: Any, tenant: str, request: OptionsRequest) -> None:
    """Refuse what cannot be sourced before a workflow starts (never a failed run for bad input)."""
    ref = request.location_ref
    known = ref is not None and network.version(engine, tenant) > 0 and _exists(engine, tenant, ref)
    if request.order_type == "CC" and not known:
        raise DomainError([FieldError("UNKNOWN_LOCATION", f"no pickup location {ref!r}", "locationRef")])
    has_point = request.address is not None and None not in (
        request.address.latitude,
        request.address.longitude,
    )
    if request.order_type == "HD" and not has_point and not known:
        raise DomainError(
            [
                FieldError(
                    "ADDRESS_COORDINATES_REQUIRED",
                    "home delivery needs address.latitude and "
                    "address.longitude, or a known locationRef to measure from",
                    "address.latitude",
                )
            ]
        )


def _exists(engine: Any, tenant: str, ref: str) -> bool:
    try:
        network.location(engine, tenant, ref)
    except DomainError:
        return False
    return True


@router.post("", status_code=200)
async def create_options(
    request: OptionsRequest,
    engine: EngineDep,
    client: TemporalDep,
    settings: SettingsDep,
    p: Writer,
    mode: Annotated[
        str, Query(pattern="^(heuristic|exact)$", description="`exact`: also solve the MILP.")
    ] = "heuristic",
) -> dict[str, Any]:
    """Source the order: plans across the network, best first, and what cannot be fulfilled, with why."""
    await run_in_threadpool(_check, engine, p.tenant, request)
    options_id = str(uuid.uuid4())
    job = OptionsJob(
        tenant=p.tenant,
        options_id=options_id,
        request=request,
        exact=mode == "exact",
        created_on=datetime.now(UTC),
    )
    try:
        result: OptionsAnswer = await client.execute_workflow(
            WORKFLOW_TYPES[(FLEX_TYPE, FLEX_VERSION)],
            job,
            id=options_workflow_id(p.tenant, options_id),
            task_queue=settings.sourcing_task_queue,
            result_type=OptionsAnswer,
            static_summary=f"{request.order_type} options for {len(request.items)} line(s)",
            execution_timeout=timedelta(seconds=settings.api_timeout_seconds),
        )
    except WorkflowFailureError as e:
        cause: BaseException | None = e.cause
        while cause is not None and not isinstance(cause, ApplicationError):
            cause = cause.__cause__
        if isinstance(cause, ApplicationError) and cause.type == "DomainError":
            errors = [FieldError(**d) for d in (cause.details[0] if cause.details else [])]
            raise DomainError(errors or [FieldError("INVALID_REQUEST", cause.message)]) from None
        raise ApiError(503, "SOURCING_FAILED", "the options could not be computed; try again") from None
    return result.body


@router.get("/{options_id}")
async def get_options(options_id: str, engine: EngineDep, p: Reader) -> dict[str, Any]:
    return await run_in_threadpool(options.get, engine, p.tenant, options_id)


@router.put("/state/{state_name}")
async def change_state(state_name: str, body: StateChange, engine: EngineDep, p: Writer) -> dict[str, Any]:
    """Move the options to another state (UPPER_SNAKE_CASE, e.g. `OPTIONS_SELECTED`)."""
    if not STATE.match(state_name):
        raise ApiError(400, "INVALID_STATE", "a state name is UPPER_SNAKE_CASE", "stateName")
    return await run_in_threadpool(
        options.set_status, engine, p.tenant, body.id, state_name, datetime.now(UTC)
    )
