"""Partners tell us things: signed events for sessions (`await` steps), and the log of them.

An event is verified (Standard Webhooks, with the connector's inbound secret), stored once per
`webhook-id`, then handed to its session's workflow; it is answered 202 once both are done. When
Temporal cannot take it, the answer is 503 and the stored event waits for the partner's retry,
which hands it over (a replay of a delivered event changes nothing).
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, OrdersDep, PageDep, SessionsDep, require
from api.errors import PROBLEM, problem
from clients.temporal import WorkflowNotFound
from domain.connectors import Connector
from domain.errors import DomainError, FieldError, NotFound, Unavailable
from domain.model import CamelModel, JsonObject, not_unicode
from domain.orders import CarrierEvent
from domain.outbound import EVENT_DATA
from domain.partners import PartnerEvent
from domain.process import EVENT_TYPE, field_path
from domain.signing import sign
from egress.adapters import PartnerAdapter, adapter_of
from storage import connectors
from storage import partners as store
from storage.tables import PartnerEventRow
from storage.tenants import Principal

router = APIRouter(prefix="/partners", tags=["partners"])
Reader = Annotated[Principal, Depends(require("connectors:read"))]
TOLERANCE = 300  # seconds a signed timestamp may be off, either way


class InboundEvent(CamelModel):
    type: str = Field(
        min_length=3, max_length=100, pattern=EVENT_TYPE, description="e.g. `outbound.confirmed`"
    )
    reference: str | None = Field(
        None, min_length=1, max_length=200, description="The session's id or reference."
    )
    data: JsonObject = Field(default_factory=dict)

    @field_validator("reference")
    @classmethod
    def _unicode(cls, value: str | None) -> str | None:
        if value is not None and not_unicode(value):
            raise ValueError("not valid Unicode (a lone surrogate)")
        return value


class Accepted(CamelModel):
    id: int = Field(description="The stored event's number.")
    session_id: str | None = Field(description="The session it was handed to; null when none matched.")
    duplicate: bool = Field(description="True when this `webhook-id` was received before.")


class StoredEvent(CamelModel):
    id: int
    message_id: str
    type: str
    reference: str | None
    data: dict[str, Any]
    session_id: str | None
    delivered: bool
    received_at: datetime


class BadSignature(Exception):
    """A missing or wrong signature, or a timestamp too far off: a 401, and nothing is recorded."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.error = FieldError(code, message, field)


@router.post(
    "/{connector_id}/events",
    status_code=202,
    response_model=Accepted,
    responses={
        200: {"model": Accepted, "description": "A replay of an event received before."},
        401: {
            "description": "A missing or wrong signature, or a timestamp 5 minutes off: nothing recorded.",
            "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": InboundEvent.model_json_schema(by_alias=True)}},
        },
        "parameters": [
            {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
            for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ],
    },
)
async def receive_event(
    connector_id: str, request: Request, engine: EngineDep, sessions: SessionsDep, orders: OrdersDep
) -> JSONResponse:
    """A partner's event, signed with Standard Webhooks headers and the connector's inbound secret."""
    connector = await run_in_threadpool(connectors.find_any_tenant, engine, connector_id)
    if connector is None:
        raise NotFound.one("CONNECTOR_NOT_FOUND", f"no connector {connector_id!r}", "connectorId")
    body = await request.body()
    try:
        message_id = _verified(connector, request.headers, body)
    except BadSignature as e:
        return problem(401, "Unauthorized", [e.error])
    try:
        adapter = adapter_of(connector.adapter)
    except KeyError:  # the connector names an adapter this deployment does not have
        raise Unavailable.one(
            "ADAPTER_MISSING", f"the adapter {connector.adapter!r} is not installed", "connectorId"
        ) from None
    contract: type[CamelModel] | None = None
    try:
        event = InboundEvent.model_validate(_translated(adapter, json.loads(body)))
        contract = EVENT_DATA.get(event.type)
        if contract is not None:
            contract.model_validate(event.data)
    except ValueError as e:
        errors = e.errors() if isinstance(e, ValidationError) else []
        raise DomainError(
            [FieldError("INVALID_FIELD", x["msg"], _where(x["loc"], contract)) for x in errors]
            or [FieldError("INVALID_EVENT" if adapter else "INVALID_JSON", str(e), "body")]
        ) from None
    now = datetime.now(UTC)
    received = await run_in_threadpool(
        store.receive,
        engine,
        connector.tenant,
        connector.id,
        message_id,
        event.type,
        event.reference,
        event.data,
        now,
    )
    row = received.row
    # By id, the session's workflow is asked itself: it exists from the start's answer on, while its
    # read-model row (what `receive` matched against) is written by the workflow a moment later.
    target = row.session_id or (
        event.reference if event.reference and event.reference.startswith("ses_") else None
    )
    if target is not None and not row.delivered:
        handed = PartnerEvent(
            id=message_id, connector=connector.name, type=row.type, data=row.data, received_at=row.received_at
        )
        try:
            if received.order is not None:  # a fulfillment's shipment: its order applies it
                order_id, fulfillment_id = received.order
                await orders.carrier_event(
                    connector.tenant, order_id, CarrierEvent(fulfillment_id=fulfillment_id, event=handed)
                )
            else:
                await sessions.partner_event(connector.tenant, target, handed)
        except WorkflowNotFound:
            pass  # no such session, or it has finished: the event stays, listed as unmatched
        else:
            await run_in_threadpool(store.mark_delivered, engine, row.id or 0, target)
            row.session_id = target
    answer = Accepted(id=row.id or 0, session_id=row.session_id, duplicate=not received.new)
    return JSONResponse(
        answer.model_dump(mode="json", by_alias=True), status_code=202 if received.new else 200
    )


def _where(loc: tuple[Any, ...], contract: type[CamelModel] | None) -> str:
    """The field an error names: in `data` when the event's data broke its contract."""
    path = field_path(loc)
    return (f"data.{path}" if path else "data") if contract is not None else path or "body"


def _translated(adapter: PartnerAdapter | None, body: Any) -> Any:
    """The event in the contract's terms: the partner's own, through its connector's adapter."""
    if adapter is None:
        return body
    try:
        return adapter.event(body)
    except ValueError:
        raise
    except Exception as e:  # an adapter's own fault is the event's: refused, named
        raise ValueError(f"the adapter could not read the event: {type(e).__name__}: {e}") from None


def _verified(connector: Connector, headers: Any, body: bytes) -> str:
    """The event's `webhook-id`, once its signature and timestamp check out."""
    message_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    given = headers.get("webhook-signature", "").split()
    if not message_id or len(message_id) > 200 or not stamp.isdigit() or not given:
        raise BadSignature(
            "MISSING_SIGNATURE",
            "webhook-id, webhook-timestamp and webhook-signature are required",
            "webhook-signature",
        )
    if abs(datetime.now(UTC).timestamp() - int(stamp)) > TOLERANCE:
        raise BadSignature(
            "STALE_TIMESTAMP", f"webhook-timestamp is more than {TOLERANCE} s off", "webhook-timestamp"
        )
    expected = [sign(secret, message_id, int(stamp), body) for secret in connector.inbound_secrets]
    if not any(hmac.compare_digest(g, e) for g in given for e in expected):
        raise BadSignature(
            "BAD_SIGNATURE",
            "the signature does not match the connector's inbound secret",
            "webhook-signature",
        )
    return str(message_id)


@router.get("/{connector_id}/events", response_model=list[StoredEvent])
async def list_partner_events(
    connector_id: str,
    engine: EngineDep,
    p: Reader,
    page: PageDep,
    unmatched: Annotated[
        bool | None,
        Query(description="true: only events no session took (none matched, or it had finished)."),
    ] = None,
) -> list[StoredEvent]:
    """A connector's events, newest first."""
    rows: list[PartnerEventRow] = await run_in_threadpool(
        store.list_events, engine, p.tenant, connector_id, unmatched, page.limit, page.offset
    )
    # A deleted connector's events stay readable; an id the tenant never had is a 404.
    if (
        not rows
        and await run_in_threadpool(connectors.get, engine, p.tenant, connector_id) is None
        and not await run_in_threadpool(store.list_events, engine, p.tenant, connector_id, None, 1, 0)
    ):
        raise NotFound.one("CONNECTOR_NOT_FOUND", f"no connector {connector_id!r}", "connectorId")
    return [StoredEvent.model_validate(r.model_dump(exclude={"tenant_id", "connector_id"})) for r in rows]
