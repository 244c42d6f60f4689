"""Request dependencies: the shared engine, the Temporal clients, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.errors import Unauthenticated
from clients.events import Publisher
from clients.options import OptionsClient
from clients.orders import OrderClient
from clients.sessions import SessionClient
from config.settings import Settings
from domain.errors import Forbidden
from domain.model import MAX_INT
from storage import tenants
from storage.tenants import Principal


def _state(name: str) -> Callable[[Request], Any]:
    """A dependency that hands out one of the objects the app's lifespan put on `app.state`."""

    def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


BEARER = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ffk_…`.")


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> Principal:
    if credentials is None:
        raise Unauthenticated("send `Authorization: Bearer <api key>`")
    found = await run_in_threadpool(tenants.authenticate, request.app.state.engine, credentials.credentials)
    if found is None:
        raise Unauthenticated("the API key is not valid")
    structlog.contextvars.bind_contextvars(tenant=found.tenant)
    return found


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that answers 403 unless the key has `scope` (or `admin`)."""

    async def check(p: Annotated[Principal, Depends(principal)]) -> Principal:
        if not p.allows(scope):
            raise Forbidden.one("FORBIDDEN", f"the API key lacks the scope {scope!r}", required_scope=scope)
        return p

    return check


Admin = Annotated[Principal, Depends(require(tenants.ADMIN))]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500).")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0,
) -> Page:
    """The page of a list endpoint that answers a plain array."""
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page)]
EngineDep = Annotated[Engine, Depends(_state("engine"))]
TemporalDep = Annotated[Client, Depends(_state("temporal"))]
SettingsDep = Annotated[Settings, Depends(_state("settings"))]
SessionsDep = Annotated[SessionClient, Depends(_state("sessions"))]
OrdersDep = Annotated[OrderClient, Depends(_state("orders"))]
OptionsDep = Annotated[OptionsClient, Depends(_state("options"))]
PublisherDep = Annotated[Publisher, Depends(_state("publisher"))]
