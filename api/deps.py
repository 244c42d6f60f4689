"""Request dependencies: the shared engine and Temporal client, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.errors import ApiError
from fulfillment.settings import Settings
from storage import tenants
from storage.tenants import Principal


def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


def temporal(request: Request) -> Client:
    found: Client = request.app.state.temporal
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


async def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "UNAUTHENTICATED", "send `Authorization: Bearer <api key>`")
    found = await run_in_threadpool(tenants.authenticate, request.app.state.engine, authorization[7:].strip())
    if found is None:
        raise ApiError(401, "UNAUTHENTICATED", "the API key is not valid")
    structlog.contextvars.bind_contextvars(tenant=found.tenant)
    return found


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 403 unless the key has `scope` (or `admin`)."""

    async def check(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.allows(scope):
            raise ApiError(403, "FORBIDDEN", f"the API key lacks the scope {scope!r}", required_scope=scope)
        return p

    return check


EngineDep = Annotated[Engine, Depends(engine)]
TemporalDep = Annotated[Client, Depends(temporal)]
SettingsDep = Annotated[Settings, Depends(settings)]
