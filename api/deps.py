"""Request dependencies: the shared engine, the Temporal clients, and the authenticated principal."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
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
from clients.changes import ChangeClient
from clients.events import Publisher
from clients.orders import OrderClient
from clients.sessions import SessionClient
from config.settings import Settings
from domain.errors import DomainError, Forbidden
from domain.model import MAX_INT
from egress.http import Egress
from egress.urls import Unreachable, UnsafeUrl, check_url
from storage import tenants
from storage.network import NetworkCache
from storage.tenants import Principal


def _state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that hands out one of the objects the app's lifespan put on `app.state`.
    Async, as every dependency here: FastAPI runs a plain `def` one in its thread pool, a thread hop
    per dependency per request."""

    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    return get


BEARER = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer ffk_…`.")


class KeyCache:
    """The keys a replica has checked, trusted for `ttl` seconds: a key is checked on every request,
    and reading it was most of what a cheap request cost. Only valid keys are kept, by their hash;
    revoking a key through this replica forgets it at once."""

    def __init__(self, ttl: float, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._keys: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        # Keys revoked here lately: a request that read one just before its revocation must not
        # put it back.
        self._revoked: dict[str, float] = {}

    @staticmethod
    def _digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> Principal | None:
        digest = self._digest(key)
        found = self._keys.get(digest)
        if found is None or found[0] <= self._clock():
            self._keys.pop(digest, None)
            return None
        return found[1]

    def put(self, key: str, principal: Principal) -> None:
        now = self._clock()
        self._revoked = {k: until for k, until in self._revoked.items() if until > now}
        if self._ttl <= 0 or principal.key_id in self._revoked:
            return
        self._keys[self._digest(key)] = (self._clock() + self._ttl, principal)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def forget(self, key_id: str) -> None:
        self._revoked[key_id] = self._clock() + self._ttl
        for digest in [d for d, (_, p) in self._keys.items() if p.key_id == key_id]:
            del self._keys[digest]


async def principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
) -> Principal:
    if credentials is None:
        raise Unauthenticated("send `Authorization: Bearer <api key>`")
    keys: KeyCache = request.app.state.keys
    key = credentials.credentials
    found = keys.get(key)
    if found is None:
        found = await run_in_threadpool(tenants.authenticate, request.app.state.engine, key)
        if found is None:
            raise Unauthenticated("the API key is not valid")
        keys.put(key, found)
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


async def page(
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
ChangesDep = Annotated[ChangeClient, Depends(_state("changes"))]
OrdersDep = Annotated[OrderClient, Depends(_state("orders"))]
NetworkDep = Annotated[NetworkCache, Depends(_state("network"))]
PublisherDep = Annotated[Publisher, Depends(_state("publisher"))]
EgressDep = Annotated[Egress, Depends(_state("egress"))]
KeysDep = Annotated[KeyCache, Depends(_state("keys"))]


async def refuse_unsafe_url(url: str, allow_private: bool, field: str) -> None:
    """The egress guard at registration (webhook URLs, connectors' base URLs): a host that resolves
    to a non-public address is a 400 naming `field`. One that does not resolve yet is taken (the
    endpoint may come later); every request resolves, checks and pins the address again, which is
    what keeps it safe."""
    try:
        await check_url(url, allow_private)
    except UnsafeUrl as e:  # its message names no address
        raise DomainError.one("UNSAFE_URL", str(e), field) from None
    except Unreachable:
        pass
