"""The live feed: a WebSocket (and the same stream as Server-Sent Events), tickets, subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import BEARER, EngineDep, require
from api.errors import Unauthenticated, problem
from api.feed import Connection, Hub
from domain.errors import DomainError, FieldError, NotFound
from domain.events import FILTER_LIST
from domain.feed import FeedFilter
from domain.model import MAX_INT, CamelModel
from storage import live_feed, tenants
from storage.tenants import Principal

router = APIRouter(prefix="/live_feed", tags=["live feed"])
SCOPE = "events:read"
Reader = Annotated[Principal, Depends(require(SCOPE))]
Ender = Annotated[Principal, Depends(require("events:write"))]
TRY_AGAIN_LATER = 1013
POLICY_VIOLATION = 1008
KEY_REVOKED = 4401
CURSOR_TOO_OLD = 4410
MAX_PAGE = 500
KEEPALIVE_SECONDS = 15
CLOSE_WAIT_SECONDS = 60


class Ticket(CamelModel):
    ticket: str
    expires_at: datetime


class Subscription(CamelModel):
    id: str
    connection: str
    filters: dict[str, Any]
    created_at: datetime


def hub_of(request: Request | WebSocket) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def feed_principal(engine: Any, authorization: str | None, ticket: str | None) -> Principal | None:
    """A Bearer key, or a single-use ticket (what browsers can send); None when neither is valid."""
    found: Principal | None = None
    if authorization and authorization.lower().startswith("bearer "):
        found = await run_in_threadpool(tenants.authenticate, engine, authorization[7:].strip())
    elif ticket:
        found = await run_in_threadpool(live_feed.redeem_ticket, engine, ticket, datetime.now(UTC))
    return found if found is not None and found.allows(SCOPE) else None


@router.post("/tickets", status_code=201, response_model=Ticket)
async def issue_ticket(engine: EngineDep, p: Reader) -> Ticket:
    """A ticket for `?ticket=` on the WebSocket or SSE URL: valid once, for 60 seconds."""
    ticket, expires = await run_in_threadpool(live_feed.issue_ticket, engine, p, datetime.now(UTC))
    return Ticket(ticket=ticket, expires_at=expires)


@router.get("/subscriptions", response_model=list[Subscription])
async def list_subscriptions(
    engine: EngineDep,
    p: Reader,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> list[Subscription]:
    """A page of the tenant's live subscriptions on every API replica, oldest first."""
    rows = await run_in_threadpool(live_feed.list_live, engine, p.tenant, datetime.now(UTC), limit, offset)
    return [
        Subscription(id=r.id, connection=r.connection, filters=r.filters, created_at=r.created_at)
        for r in rows
    ]


@router.delete("/subscriptions", status_code=200)
async def end_all_subscriptions(engine: EngineDep, p: Ender) -> dict[str, list[str]]:
    return {"ended": await run_in_threadpool(live_feed.remove, engine, p.tenant, None)}


@router.delete("/subscriptions/{subscription_id}", status_code=200)
async def end_subscription(subscription_id: str, engine: EngineDep, p: Ender) -> dict[str, list[str]]:
    """End a subscription; its connection is told with an `unsubscribed` message within a second."""
    ended = await run_in_threadpool(live_feed.remove, engine, p.tenant, subscription_id)
    if not ended:
        raise NotFound.one("SUBSCRIPTION_NOT_FOUND", f"no live subscription {subscription_id!r}", "id")
    return {"ended": ended}


CURSOR = r"^[0-9]{1,10}$"
IDS = "Comma-separated ids (a URL stays under 8 KiB; subscribe over the WebSocket for more)."
IDS_RE = r"^[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$"


def _cursor(value: str | None, field: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise ValueError(f"{field} must be a cursor (a whole number)")
    return int(value)


@router.websocket("")
async def websocket_feed(
    websocket: WebSocket,
    cursor: str | None = None,
    ticket: str | None = None,
    session_ids: Annotated[str | None, Query(alias="sessionIds")] = None,
    cart_ids: Annotated[str | None, Query(alias="cartIds")] = None,
    event_types: Annotated[str | None, Query(alias="eventTypes")] = None,
) -> None:
    """Events as `{"type": "event", "cursor", "event"}`; `?cursor=` replays what came after it first.

    Messages: `{"action": "subscribe", "sessionIds"?, "cartIds"?, "eventTypes"?}` answers
    `{"type": "subscribed", "subscriptionId"}`; `{"action": "unsubscribe", "subscriptionId"}`.
    Without filters in the URL the connection starts subscribed to every event of the tenant.
    Close codes: 4410 when the cursor is more than `FULFILLMENT_LIVE_FEED_MAX_BACKFILL` events behind,
    4401 when the API key is revoked, 1013 when the consumer is too slow.
    """
    hub = hub_of(websocket)
    p = await feed_principal(hub.engine, websocket.headers.get("authorization"), ticket)
    if p is None:
        await websocket.close(
            code=POLICY_VIOLATION, reason="a valid API key or ticket with events:read is needed"
        )
        return
    try:
        start = _cursor(cursor, "cursor")
        first = FeedFilter.from_query(session_ids, cart_ids, event_types)
    except (ValueError, ValidationError) as e:
        await websocket.close(code=POLICY_VIOLATION, reason=str(e)[:120])
        return
    await websocket.accept()
    if start is not None and await hub.too_far_behind(p.tenant, start):
        await websocket.close(code=CURSOR_TOO_OLD, reason=_too_old(hub)[:120])
        return
    conn = Connection(p.tenant, hub.settings.live_feed_buffer, p.key_id)
    hub.attach(conn)
    try:
        sid = await hub.subscribe(conn, first)
        await websocket.send_json({"type": "subscribed", "subscriptionId": sid})
        if start is not None:
            await hub.replay(conn, start, websocket.send_json)
        await _serve(websocket, hub, conn)
    except WebSocketDisconnect:
        pass
    finally:
        await hub.detach(conn)


async def _serve(websocket: WebSocket, hub: Hub, conn: Connection) -> None:
    pump = asyncio.create_task(conn.pump(websocket.send_json, hub.settings.live_feed_send_timeout_seconds))
    commands = asyncio.create_task(_commands(websocket, hub, conn))
    cut: asyncio.Task[Any] = asyncio.create_task(conn.cut_off.wait())
    revoked: asyncio.Task[Any] = asyncio.create_task(conn.revoked.wait())
    try:
        done, _ = await asyncio.wait({pump, commands, cut, revoked}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, commands, cut, revoked):
            task.cancel()
        await asyncio.gather(pump, commands, cut, revoked, return_exceptions=True)
    if revoked in done or conn.revoked.is_set():
        await hub.detach(conn)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                websocket.close(code=KEY_REVOKED, reason="the API key was revoked"), CLOSE_WAIT_SECONDS
            )
        return
    if cut in done or conn.cut_off.is_set():
        # Stop feeding it at once; the close frame goes out when the client reads again (or the
        # server's ping timeout drops the connection): its socket holds at most what is in flight.
        await hub.detach(conn)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                websocket.close(code=TRY_AGAIN_LATER, reason="too slow: reconnect with your last cursor"),
                CLOSE_WAIT_SECONDS,
            )
    for task in done:
        failure = None if task is cut or task.cancelled() else task.exception()
        if failure is not None:
            raise failure


async def _commands(websocket: WebSocket, hub: Hub, conn: Connection) -> None:
    while True:
        raw = await websocket.receive_text()
        try:
            message = json.loads(raw)
            action = message.get("action") if isinstance(message, dict) else None
            if action == "subscribe":
                body = {k: v for k, v in message.items() if k != "action"}
                sid = await hub.subscribe(conn, FeedFilter.model_validate(body))
                conn.push({"type": "subscribed", "subscriptionId": sid})
            elif action == "unsubscribe":
                sid = str(message.get("subscriptionId", ""))
                if await hub.unsubscribe(conn, sid):
                    conn.push({"type": "unsubscribed", "subscriptionId": sid})
                else:
                    conn.push(
                        _error("SUBSCRIPTION_NOT_FOUND", f"no subscription {sid!r} here", "subscriptionId")
                    )
            else:
                conn.push(_error("UNKNOWN_ACTION", "action must be subscribe or unsubscribe", "action"))
        except json.JSONDecodeError:
            conn.push(_error("INVALID_JSON", "messages are JSON objects", None))
        except ValidationError as e:
            conn.push(
                _error("VALIDATION_ERROR", e.errors()[0]["msg"], ".".join(map(str, e.errors()[0]["loc"])))
            )


def _too_old(hub: Hub) -> str:
    limit = hub.settings.live_feed_max_backfill
    return f"cursor is over {limit} events behind: catch up with GET /events, then connect without it"


def _error(code: str, message: str, field: str | None) -> dict[str, Any]:
    return {"type": "error", "errors": [{"code": code, "message": message, "field": field}]}


@router.get(
    "/sse",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The event stream."}},
    # A key (Authorization) or a ticket (query) authenticates: the key is optional in the schema.
    openapi_extra={"security": [{"HTTPBearer": []}, {}]},
)
async def sse_feed(
    request: Request,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=CURSOR)] = None,
    cursor: Annotated[str | None, Query(pattern=CURSOR, description="Resume after this cursor.")] = None,
    ticket: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    session_ids: Annotated[
        str | None, Query(alias="sessionIds", max_length=4000, pattern=IDS_RE, description=IDS)
    ] = None,
    cart_ids: Annotated[
        str | None, Query(alias="cartIds", max_length=4000, pattern=IDS_RE, description=IDS)
    ] = None,
    event_types: Annotated[str | None, Query(alias="eventTypes", pattern=FILTER_LIST)] = None,
) -> Response:
    """The same stream as Server-Sent Events; each event's `id` is its cursor, so `Last-Event-ID` resumes.

    A cursor more than `FULFILLMENT_LIVE_FEED_MAX_BACKFILL` events behind is refused with 410; a stream
    whose API key is revoked ends with `event: revoked`.
    """
    authorization = f"Bearer {credentials.credentials}" if credentials else None
    p = await feed_principal(engine, authorization, ticket)
    if p is None:
        raise Unauthenticated("a valid API key or ticket with events:read is needed")
    field = "Last-Event-ID" if last_event_id else "cursor"
    try:
        start = _cursor(last_event_id, "Last-Event-ID") if last_event_id else _cursor(cursor, "cursor")
        first = FeedFilter.from_query(session_ids, cart_ids, event_types)
    except (ValueError, ValidationError) as e:
        raise DomainError.one("VALIDATION_ERROR", str(e), "cursor") from None
    hub = hub_of(request)
    if start is not None and await hub.too_far_behind(p.tenant, start):
        return problem(410, "Gone", [FieldError("CURSOR_TOO_OLD", _too_old(hub), field)])
    conn = Connection(p.tenant, hub.settings.live_feed_buffer, p.key_id)
    hub.attach(conn)
    sid = await hub.subscribe(conn, first)

    async def stream() -> AsyncIterator[str]:
        out: asyncio.Queue[str] = asyncio.Queue(maxsize=1)

        async def send(message: dict[str, Any]) -> None:
            await out.put(_sse(message))

        async def produce() -> None:
            if start is not None:
                await hub.replay(conn, start, send)
            await conn.pump(send, hub.settings.live_feed_send_timeout_seconds)

        producer = asyncio.create_task(produce())
        revoked = asyncio.create_task(conn.revoked.wait())
        getting: asyncio.Task[str] | None = None
        try:
            # At once, as the WebSocket does: the client knows the stream is live before any event.
            yield _sse({"type": "subscribed", "subscriptionId": sid})
            while not conn.cut_off.is_set():
                getting = asyncio.create_task(out.get())
                done, _ = await asyncio.wait(
                    {getting, revoked}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if revoked in done:
                    getting.cancel()
                    yield _sse({"type": "revoked", "reason": "the API key was revoked"})
                    return
                if getting in done:
                    yield getting.result()
                else:
                    getting.cancel()
                    yield ": keep-alive\n\n"
        finally:  # also when the client goes away mid-wait: no task is left pending
            for task in (producer, revoked, getting):
                if task is not None:
                    task.cancel()
            await hub.detach(conn)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _sse(message: dict[str, Any]) -> str:
    if message["type"] == "event":
        event = message["event"]
        return f"id: {message['cursor']}\nevent: {event['type']}\ndata: {json.dumps(message)}\n\n"
    return f"event: {message['type']}\ndata: {json.dumps(message)}\n\n"
