"""Request dependencies: the shared engine, the Temporal clients, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.errors import ApiError
from clients.events import Publisher
from clients.options import OptionsClient
from clients.orders import OrderClient
from clients.sessions import SessionClient
from config.settings import Settings
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


def session_client(request: Request) -> SessionClient:
    found: SessionClient = request.app.state.sessions
    return found


def order_client(request: Request) -> OrderClient:
    found: OrderClient = request.app.state.orders
    return found


def options_client(request: Request) -> OptionsClient:
    found: OptionsClient = request.app.state.options
    return found


def publisher(request: Request) -> Publisher:
    found: Publisher = request.app.state.publisher
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
SessionsDep = Annotated[SessionClient, Depends(session_client)]
OrdersDep = Annotated[OrderClient, Depends(order_client)]
OptionsDep = Annotated[OptionsClient, Depends(options_client)]
PublisherDep = Annotated[Publisher, Depends(publisher)]
