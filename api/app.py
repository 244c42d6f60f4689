"""The FastAPI application: shared engine and Temporal client, request ids in logs, routers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from api.deps import KeyCache
from api.feed import Hub
from api.limits import BodyLimit
from api.routers import (
    changes,
    connectors,
    events,
    fulfillment_options,
    health,
    keys,
    live_feed,
    logistics,
    network,
    orders,
    outbound,
    partners,
    pickup,
    processes,
    push,
    sessions,
    webhooks,
)
from clients.changes import ChangeClient
from clients.code import code_processes
from clients.events import Publisher
from clients.orders import OrderClient
from clients.sessions import SessionClient
from clients.temporal import connect
from config.settings import Settings
from egress.http import Egress
from storage.engine import make_engine, migrate
from storage.network import NetworkCache

DESCRIPTION = """Fulfillment sessions on versioned processes, driven by durable Temporal workflows.

Authenticate with `Authorization: Bearer <api key>`. Errors are `application/problem+json` with an
`errors` list of `{code, message, field}`. Requests that create something accept an `Idempotency-Key`
header: a retry gets the first answer, another body with the same key is 422."""


class RequestContext:
    """Binds the request id (`x-request-id`, or a new one) to the log context and echoes it back.
    Plain ASGI: Starlette's `BaseHTTPMiddleware` wraps every response in a stream of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id")
        request_id = given or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        await self._app(scope, receive, send_with_id)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = make_engine(settings.resolved_database_url)
        app.state.keys = KeyCache(settings.auth_cache_seconds)
        code_processes()  # a broken `fulfillment.processes` entry point stops the start, named
        migrate(app.state.engine)
        app.state.network = NetworkCache(app.state.engine)  # this replica's snapshots
        client = app.state.temporal = await connect(settings.temporal_address, settings.temporal_namespace)
        timeout = settings.api_timeout_seconds
        app.state.sessions = SessionClient(client, settings.task_queue, timeout)
        app.state.orders = OrderClient(client, settings.task_queue, timeout)
        app.state.changes = ChangeClient(client, settings.task_queue, timeout)
        app.state.changes = ChangeClient(client, settings.task_queue, timeout)
        app.state.publisher = Publisher(client, app.state.engine, settings, timeout)
        http = aiohttp.ClientSession()  # calls the API makes itself (carriers' prices), through the guard
        app.state.egress = Egress(http, settings.webhook_allow_private)
        app.state.hub = Hub(app.state.engine, settings)
        await app.state.hub.start()
        yield
        await app.state.hub.stop()
        await http.close()
        app.state.engine.dispose()

    app = FastAPI(
        title="Fulfillment orchestrator", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    errors.install(app)

    for module in (
        health,
        processes,
        sessions,
        events,
        webhooks,
        live_feed,
        push,
        network,
        fulfillment_options,
        orders,
        keys,
        connectors,
        partners,
        logistics,
        outbound,
        pickup,
        changes,
    ):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, bulk_limit=settings.max_bulk_body_bytes)
    app.add_middleware(RequestContext)
    errors.document(app, connectors.state_adapters)
    return app
