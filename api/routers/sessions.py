"""Fulfillment sessions: start one on a process, act on it, read it; the revision trail of a cart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, PageDep, SessionsDep, require
from api.idempotency import IdempotencyKey, idempotent, request_hash
from clients.code import code_definitions
from clients.temporal import WorkflowNotFound
from domain.errors import NotFound
from domain.ids import new_session_id, session_action_update_id
from domain.model import MAX_INT, CamelModel, JsonObject
from domain.partners import CallAttempt
from domain.session import ActionNotAllowed, ActionRequest, Revision, SessionStart, SessionView
from storage import partners, processes, sessions
from storage.tenants import Principal

router = APIRouter(tags=["sessions"])
Reader = Annotated[Principal, Depends(require("sessions:read"))]
Writer = Annotated[Principal, Depends(require("sessions:write"))]


class CreateSession(CamelModel):
    process_type: str = Field(min_length=1, max_length=100)
    process_version: int | None = Field(None, ge=1, le=MAX_INT)
    cart_id: str = Field(min_length=1, max_length=200)
    reference: str | None = Field(None, max_length=200)
    context: JsonObject = Field(default_factory=dict)
    actor: str | None = Field(None, max_length=200, description="Who starts it; the API key when omitted.")


class ActionBody(CamelModel):
    action: str = Field(min_length=1, max_length=100)
    comment: str | None = Field(None, max_length=2000)
    data: JsonObject = Field(default_factory=dict)
    actor: str | None = Field(None, max_length=200, description="Who acts; the API key when omitted.")


class SessionPage(CamelModel):
    items: list[SessionView]
    total: int
    limit: int
    offset: int


class RevisionOut(CamelModel):
    revision: int
    session_id: str
    action: str
    from_: str | None = Field(alias="from")
    to: str
    actor: str
    comment: str | None
    data: dict[str, Any]
    at: datetime


@router.post("/sessions", status_code=201, response_model=SessionView)
async def create_session(
    request: Request,
    body: CreateSession,
    engine: EngineDep,
    client: SessionsDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start a session on the latest (or the given) version of a process; it stays on that version."""
    definition = await run_in_threadpool(
        processes.get, engine, p.tenant, body.process_type, body.process_version, code_definitions()
    )
    start = SessionStart(
        tenant=p.tenant,
        session_id=new_session_id(p.tenant, idempotency_key),
        cart_id=body.cart_id,
        reference=body.reference,
        context=body.context,
        definition=definition,
        actor=p.actor(body.actor),
    )

    async def respond() -> tuple[int, Any]:
        view = await client.start(start)
        return 201, view.model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


@router.get("/sessions", response_model=SessionPage)
async def list_sessions(
    engine: EngineDep,
    p: Reader,
    status: str | None = None,
    cart_id: Annotated[str | None, Query(alias="cartId")] = None,
    process_type: Annotated[str | None, Query(alias="processType")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> SessionPage:
    """Sessions from the read model, newest first."""
    items, total = await run_in_threadpool(
        lambda: sessions.list_sessions(
            engine,
            p.tenant,
            status=status,
            cart_id=cart_id,
            process_type=process_type,
            limit=limit,
            offset=offset,
        )
    )
    return SessionPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/sessions/{session_id}", response_model=SessionView)
async def get_session(session_id: str, client: SessionsDep, p: Reader) -> SessionView:
    """The current state, read from the session's workflow (strongly consistent)."""
    return await client.view(p.tenant, session_id)


@router.post("/sessions/{session_id}/actions", response_model=SessionView)
async def act_on_session(
    request: Request,
    session_id: str,
    body: ActionBody,
    engine: EngineDep,
    client: SessionsDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Apply an action; 409 with the allowed actions when the current state does not allow it."""
    action = ActionRequest(
        action=body.action, comment=body.comment, data=body.data, actor=p.actor(body.actor)
    )

    async def respond() -> tuple[int, Any]:
        try:
            update_id = session_action_update_id(idempotency_key)
            view = await client.act(p.tenant, session_id, action, update_id)
        except WorkflowNotFound:
            # Not found is also what a finished session's workflow answers: tell the two apart.
            stored = await run_in_threadpool(sessions.get_view, engine, p.tenant, session_id)
            if stored is None:
                raise
            raise ActionNotAllowed(body.action, stored.status, []) from None
        return 200, view.model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


@router.get("/sessions/{session_id}/calls", response_model=list[CallAttempt])
async def session_calls(session_id: str, engine: EngineDep, p: Reader, page: PageDep) -> list[CallAttempt]:
    """Every attempt of the session's partner calls, oldest first: status, duration, the answer's
    start, and why an attempt failed."""
    if await run_in_threadpool(sessions.get_view, engine, p.tenant, session_id) is None:
        raise NotFound.one("SESSION_NOT_FOUND", f"no session {session_id!r}", "id")
    return await run_in_threadpool(partners.calls, engine, p.tenant, session_id, page.limit, page.offset)


@router.get("/carts/{cart_id}/revisions", response_model=list[RevisionOut])
async def cart_revisions(cart_id: str, engine: EngineDep, p: Reader, page: PageDep) -> list[RevisionOut]:
    """Every change of every session of the cart, oldest first: who did what, when, and how."""
    revisions: list[Revision] = await run_in_threadpool(
        sessions.cart_revisions, engine, p.tenant, cart_id, page.limit, page.offset
    )
    return [RevisionOut.model_validate(r.model_dump(exclude={"tenant", "cart_id"})) for r in revisions]
