"""Process definitions: register (next version of the type), list the latest, read any version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, require
from api.idempotency import IdempotencyKey, idempotent, request_hash
from clients.code import code_definitions
from domain.examples import gift_wrap
from domain.model import MAX_INT
from domain.process import ProcessDefinition, validate_definition
from storage import connectors, processes
from storage.tenants import Principal

router = APIRouter(prefix="/processes", tags=["processes"])
Reader = Annotated[Principal, Depends(require("processes:read"))]
Writer = Annotated[Principal, Depends(require("processes:write"))]


@router.post(
    "",
    status_code=201,
    response_model=ProcessDefinition,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProcessDefinition"}}},
        }
    },
)
async def register_process(
    request: Request,
    engine: EngineDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
    body: dict[str, Any] = Body(..., examples=[gift_wrap()]),
) -> JSONResponse:
    """Store a definition as the next version of its type; running sessions keep theirs."""
    names = await run_in_threadpool(connectors.names, engine, p.tenant)
    definition = validate_definition({**body, "version": None}, names)

    async def respond() -> tuple[int, Any]:
        stored = await run_in_threadpool(processes.register, engine, p.tenant, definition, code_definitions())
        return 201, stored.model_dump(mode="json")

    return await idempotent(engine, p.tenant, idempotency_key, request_hash(request, body), respond)


@router.get("", response_model=list[ProcessDefinition])
async def list_processes(engine: EngineDep, p: Reader) -> list[ProcessDefinition]:
    """The latest version of every type: built-ins, processes written in Python (`kind: code`) and
    the tenant's own."""
    return await run_in_threadpool(processes.list_latest, engine, p.tenant, code_definitions())


@router.get("/{process_type}", response_model=ProcessDefinition)
async def latest_process(process_type: str, engine: EngineDep, p: Reader) -> ProcessDefinition:
    return await run_in_threadpool(processes.get, engine, p.tenant, process_type, None, code_definitions())


@router.get("/{process_type}/versions/{version}", response_model=ProcessDefinition)
async def process_version(
    process_type: str,
    version: Annotated[int, Path(ge=1, le=MAX_INT)],
    engine: EngineDep,
    p: Reader,
) -> ProcessDefinition:
    return await run_in_threadpool(processes.get, engine, p.tenant, process_type, version, code_definitions())
