"""Connectors: a tenant's partner systems by name, their credentials, and the secret partners sign
their events to us with."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, PageDep, SettingsDep, refuse_unsafe_url, require
from api.idempotency import IdempotencyKey, idempotent, request_hash
from domain.connectors import (
    ConnectorCreate,
    ConnectorOut,
    ConnectorPatch,
    ConnectorWithSecret,
    check_headers,
    out,
    parse_auth,
    with_secret,
)
from domain.errors import Conflict, DomainError, NotFound
from domain.process import CallStep
from egress.adapters import adapters
from storage import connectors, processes
from storage.tenants import Principal

router = APIRouter(prefix="/connectors", tags=["connectors"])
Reader = Annotated[Principal, Depends(require("connectors:read"))]
Writer = Annotated[Principal, Depends(require("connectors:write"))]


def state_adapters(spec: dict[str, Any]) -> None:
    """The schema names the adapters this deployment has installed: the only values `adapter` takes."""
    installed = sorted(adapters())
    for model in ("ConnectorCreate", "ConnectorPatch"):
        field = spec["components"]["schemas"][model]["properties"]["adapter"]
        field["anyOf"] = [
            {**m, "enum": installed} if m.get("type") == "string" else m
            for m in field["anyOf"]
            if m.get("type") != "string" or installed
        ]


def _installed(adapter: str | None) -> None:
    """A connector names only an adapter this deployment has (the refusal lists those it has)."""
    if adapter is not None and adapter not in adapters():
        known = ", ".join(sorted(adapters())) or "none"
        raise DomainError.one(
            "UNKNOWN_ADAPTER", f"no adapter {adapter!r} is installed; installed: {known}", "adapter"
        )


def _generates_secret(auth: dict[str, Any]) -> bool:
    return auth["type"] == "standard-webhooks" and "secret" not in auth


@router.post("", status_code=201, response_model=ConnectorWithSecret)
async def create_connector(
    request: Request,
    body: ConnectorCreate,
    engine: EngineDep,
    settings: SettingsDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Register a partner system. The answer carries its `inboundSecret` (and a generated
    standard-webhooks `auth.secret`), shown this once (and replayed to a retry with the same
    Idempotency-Key); credentials are stored encrypted and never shown again."""
    auth = parse_auth(body.auth)
    headers = check_headers(body.headers)
    _installed(body.adapter)

    async def respond() -> tuple[int, Any]:
        await refuse_unsafe_url(body.base_url, settings.webhook_allow_private, "baseUrl")
        connector = await run_in_threadpool(
            connectors.create,
            engine,
            p.tenant,
            body.name,
            body.kind,
            body.base_url,
            auth,
            datetime.now(UTC),
            body.timeout_seconds,
            headers,
            adapter=body.adapter,
        )
        return 201, with_secret(connector, reveal=True).model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


@router.get("", response_model=list[ConnectorOut])
async def list_connectors(engine: EngineDep, p: Reader, page: PageDep) -> list[ConnectorOut]:
    found = await run_in_threadpool(connectors.list_all, engine, p.tenant, page.limit, page.offset)
    return [out(c) for c in found]


@router.get("/{connector_id}", response_model=ConnectorOut)
async def get_connector(connector_id: str, engine: EngineDep, p: Reader) -> ConnectorOut:
    connector = await run_in_threadpool(connectors.get, engine, p.tenant, connector_id)
    if connector is None:
        raise NotFound.one("CONNECTOR_NOT_FOUND", f"no connector {connector_id!r}", "id")
    return out(connector)


@router.patch("/{connector_id}", response_model=ConnectorOut)
async def update_connector(
    connector_id: str, body: ConnectorPatch, engine: EngineDep, settings: SettingsDep, p: Writer
) -> ConnectorOut:
    """Change any field; `auth` is replaced whole (a standard-webhooks one without a secret gets a new
    secret, shown in this answer only). The name stays unique; a new base URL is checked again."""
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    if "auth" in changes:
        changes["auth"] = parse_auth(changes["auth"])
    if "headers" in changes:
        changes["headers"] = check_headers(changes["headers"])
    _installed(changes.get("adapter"))
    if body.base_url is not None:
        await refuse_unsafe_url(body.base_url, settings.webhook_allow_private, "baseUrl")
    if body.name is not None:
        await _not_in_use(engine, p.tenant, connector_id, "name")
    connector = await run_in_threadpool(
        connectors.update, engine, p.tenant, connector_id, changes, datetime.now(UTC)
    )
    return out(connector, reveal="auth" in changes and _generates_secret(changes["auth"]))


@router.delete("/{connector_id}", status_code=204)
async def delete_connector(connector_id: str, engine: EngineDep, p: Writer) -> Response:
    """Delete the connector, unless a process's latest version calls it (409 naming them); the
    partner events it received stay readable at `GET /partners/{id}/events`, its calls at each
    session's `/calls`."""
    await _not_in_use(engine, p.tenant, connector_id, "id")
    await run_in_threadpool(connectors.delete, engine, p.tenant, connector_id)
    return Response(status_code=204)


@router.post("/{connector_id}/rotate_secret", response_model=ConnectorWithSecret)
async def rotate_secret(connector_id: str, engine: EngineDep, p: Writer) -> ConnectorWithSecret:
    """A new inbound secret, shown this once; the previous one keeps verifying beside it for 24 hours."""
    connector = await run_in_threadpool(
        connectors.rotate_secret, engine, p.tenant, connector_id, datetime.now(UTC)
    )
    return with_secret(connector)


async def _not_in_use(engine: Engine, tenant: str, connector_id: str, field: str) -> None:
    """A connector that the latest version of a process calls keeps its name: sessions would fail
    their calls (register new versions without it first)."""
    connector = await run_in_threadpool(connectors.get, engine, tenant, connector_id)
    if connector is None:
        return  # the change itself answers 404
    latest = await run_in_threadpool(processes.list_latest, engine, tenant)
    users = sorted(
        d.type
        for d in latest
        if any(
            isinstance(step, CallStep) and step.connector == connector.name
            for s in d.states
            for step in s.steps
        )
    )
    if users:
        raise Conflict.one(
            "CONNECTOR_IN_USE",
            f"{connector.name!r} is called by the latest version of {', '.join(users)}; register versions "
            "that call another connector first",
            field,
            processes=users,
        )
