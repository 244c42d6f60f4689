"""Outbound orders (`/v3/fulfillment/outbound`): acknowledged at once, carried by an `OutboundOrder`
workflow through the OMS, the WMS and the carrier.

The acknowledgment (202) comes before any partner is called: the workflow calls the OMS, retrying
durably while it is down. The `trackingIdShipper` is the outbound's key: the same outbound again is
the same one (200), another body under it a 409.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from api.deps import EngineDep, SessionsDep, require
from clients.temporal import WorkflowNotFound
from domain import outbound as o
from domain.connectors import Connector
from domain.errors import Conflict, NotFound, Unprocessable
from domain.ids import outbound_session_id
from domain.model import MAX_INT, CamelModel
from domain.partners import CallAttempt
from domain.session import SessionStart, SessionView
from storage import connectors, logistics, partners, sessions
from storage.tenants import Principal

router = APIRouter(prefix="/v3/fulfillment/outbound", tags=["outbound"])


class _OutboundId(Convertor[str]):
    """Any path segment but `oms`: `/oms` stays the create route's alone (no GET answers there), and
    any other unknown id is the outbound routes' own 404."""

    regex = "(?!oms$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("outbound_id", _OutboundId())
OutboundId = Annotated[str, Path(description="The outbound's id (`out_…`).")]
Reader = Annotated[Principal, Depends(require("logistics:read"))]
Writer = Annotated[Principal, Depends(require("logistics:write"))]


class Outbound(o.OutboundView):
    rejection_reason: str | None = Field(description="Why the OMS rejected it (REJECTED only).")
    history: list[o.HistoryEntry] = Field(
        description="Every change, oldest first: status, action, who, when."
    )
    calls: list[CallAttempt] = Field(description="Every attempt of every partner call, oldest first.")


class OutboundPage(CamelModel):
    items: list[o.OutboundView]
    total: int
    limit: int
    offset: int


@router.post(
    "/oms",
    status_code=202,
    response_model=o.Acknowledged,
    responses={200: {"model": o.Acknowledged, "description": "The same outbound, sent before."}},
)
async def create_outbound(
    body: o.OutboundCreate, engine: EngineDep, client: SessionsDep, p: Writer
) -> JSONResponse:
    """Acknowledge an outbound (or return) order; its workflow then creates it in the OMS."""
    fingerprint = hashlib.sha256(
        json.dumps(body.model_dump(mode="json", by_alias=True), sort_keys=True).encode()
    ).hexdigest()
    session_id = outbound_session_id(p.tenant, body.tracking_id_shipper)
    known = await run_in_threadpool(sessions.get_view, engine, p.tenant, session_id)
    if known is None:
        oms, wms = await run_in_threadpool(_connectors, engine, p.tenant, body.warehouse_ref)
        promise = await run_in_threadpool(logistics.promise, engine, p.tenant, body.quote_id, None)
        outbound = {
            "outboundId": session_id,
            **body.model_dump(mode="json", by_alias=True, exclude={"quote_id"}),
        }
        context: dict[str, Any] = {
            "outbound": outbound,
            "connectors": {"oms": oms.name, "wms": wms.name},
            "fingerprint": fingerprint,
        }
        if promise is not None:
            context["promise"] = promise.model_dump(mode="json", by_alias=True)
        start = SessionStart(
            tenant=p.tenant,
            session_id=session_id,
            cart_id=body.tracking_id_shipper,
            reference=body.tracking_id_shipper,
            context=context,
            definition=o.outbound_process(oms.name),
            actor=p.actor(),
        )
        view = await client.start(start)  # a concurrent twin: the running one's view
        fresh = view.revision == 0 and view.context.get("fingerprint") == fingerprint
    else:
        view, fresh = known, False
    if view.context.get("fingerprint") != fingerprint:
        raise Conflict.one(
            "TRACKING_ID_TAKEN",
            f"an outbound with trackingIdShipper {body.tracking_id_shipper!r} exists with another body",
            "trackingIdShipper",
            outboundId=view.id,
        )
    ack = o.Acknowledged(id=view.id, tracking_id_shipper=body.tracking_id_shipper, status=view.status)
    return JSONResponse(ack.model_dump(mode="json", by_alias=True), status_code=202 if fresh else 200)


@router.get("", response_model=OutboundPage)
async def list_outbound(
    engine: EngineDep,
    p: Reader,
    tracking_id_shipper: Annotated[str | None, Query(alias="trackingIdShipper", max_length=100)] = None,
    status: Annotated[str | None, Query(pattern=f"^({'|'.join(o.STATUSES)})$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> OutboundPage:
    """Outbound orders, newest first."""
    items, total = await run_in_threadpool(
        lambda: sessions.list_sessions(
            engine,
            p.tenant,
            status=status,
            process_type=o.PROCESS_TYPE,
            reference=tracking_id_shipper,
            limit=limit,
            offset=offset,
        )
    )
    return OutboundPage(items=[_view(v) for v in items], total=total, limit=limit, offset=offset)


@router.get("/{outbound_id:outbound_id}", response_model=Outbound)
async def get_outbound(
    outbound_id: OutboundId, engine: EngineDep, client: SessionsDep, p: Reader
) -> Outbound:
    """An outbound: its status, the OMS's id, the PGI at the WMS, the shipment and its carrier's
    events, every change and every partner call."""
    try:
        view = await run_in_threadpool(_outbound, engine, p.tenant, outbound_id)
    except NotFound as missing:
        try:  # acknowledged a moment ago: its workflow has it before the read model does
            view = await client.view(p.tenant, outbound_id)
        except WorkflowNotFound:
            raise missing from None
        if view.process_type != o.PROCESS_TYPE:
            raise missing from None
    history = await run_in_threadpool(sessions.session_revisions, engine, p.tenant, outbound_id)
    calls = await run_in_threadpool(partners.calls, engine, p.tenant, outbound_id, 500, 0)
    entries = [
        o.HistoryEntry(status=r.to, action=r.action, actor=r.actor, at=r.at, data=r.data) for r in history
    ]
    rejected = [e for e in entries if e.status == o.REJECTED]
    reason = str(rejected[-1].data.get("reason") or "") or None if rejected else None
    return Outbound(**_view(view).model_dump(), rejection_reason=reason, history=entries, calls=calls)


@router.put(
    "/{outbound_id:outbound_id}/shipment",
    response_model=o.OutboundView,
    responses={409: {"description": "The outbound's status takes no shipment (before CONFIRMED, or ended)."}},
)
async def set_shipment(
    outbound_id: OutboundId, body: o.ShipmentSet, engine: EngineDep, client: SessionsDep, p: Writer
) -> o.OutboundView:
    """Set the carrier and tracking number; the carrier is asked to send its status events here."""
    await run_in_threadpool(_outbound, engine, p.tenant, outbound_id)
    carrier = await run_in_threadpool(connectors.by_name, engine, p.tenant, body.carrier)
    if carrier is None or carrier.kind != "CARRIER":
        raise Unprocessable.one("UNKNOWN_CARRIER", f"no CARRIER connector named {body.carrier!r}", "carrier")
    promise = await run_in_threadpool(logistics.promise, engine, p.tenant, body.quote_id, body.carrier)
    update = o.ShipmentUpdate(
        carrier=body.carrier, tracking_number=body.tracking_number, promise=promise, actor=p.actor()
    )
    return _view(await client.set_shipment(p.tenant, outbound_id, update))


@router.post(
    "/{outbound_id:outbound_id}/resend_pgi",
    response_model=o.OutboundView,
    responses={409: {"description": "The WMS has not refused the PGI (it is pending or accepted)."}},
)
async def resend_pgi(
    outbound_id: OutboundId, engine: EngineDep, client: SessionsDep, p: Writer
) -> o.OutboundView:
    """Send the PGI to the WMS again after it refused it (say, once the warehouse fixed its data): a
    new intent with its own `Idempotency-Key`. The outbound ends (DELIVERED) once the WMS accepts."""
    await run_in_threadpool(_outbound, engine, p.tenant, outbound_id)
    return _view(await client.resend_pgi(p.tenant, outbound_id, p.actor()))


def _outbound(engine: Any, tenant: str, outbound_id: str) -> SessionView:
    view = sessions.get_view(engine, tenant, outbound_id)
    if view is None or view.process_type != o.PROCESS_TYPE:
        raise NotFound.one("OUTBOUND_NOT_FOUND", f"no outbound {outbound_id!r}", "id")
    return view


def _connectors(engine: Any, tenant: str, warehouse_ref: str | None) -> tuple[Connector, Connector]:
    """The OMS the outbound goes to (the tenant's one) and the WMS its PGI goes to."""
    oms = connectors.of_kind(engine, tenant, "OMS")
    if len(oms) != 1:
        found = ", ".join(c.name for c in oms) or "none"
        raise Unprocessable.one(
            "NO_SINGLE_OMS", f"an outbound needs exactly one OMS connector; the tenant has {found}", "body"
        )
    if warehouse_ref is not None:
        wms = connectors.by_name(engine, tenant, warehouse_ref)
        if wms is None or wms.kind != "WMS":
            raise Unprocessable.one(
                "UNKNOWN_WAREHOUSE", f"no WMS connector named {warehouse_ref!r}", "warehouseRef"
            )
        return oms[0], wms
    found_wms = connectors.of_kind(engine, tenant, "WMS")
    if len(found_wms) != 1:
        names = ", ".join(c.name for c in found_wms) or "none"
        raise Unprocessable.one(
            "NO_SINGLE_WMS", f"name the WMS connector in warehouseRef; the tenant has {names}", "warehouseRef"
        )
    return oms[0], found_wms[0]


def _view(view: SessionView) -> o.OutboundView:
    c = view.context
    outbound = c["outbound"]
    return o.OutboundView(
        id=view.id,
        tracking_id_shipper=outbound["trackingIdShipper"],
        type=outbound["type"],
        reference=outbound.get("reference"),
        warehouse_ref=outbound.get("warehouseRef"),
        status=view.status,
        oms_order_id=(c.get("oms") or {}).get("omsOrderId"),
        consignee=outbound["consignee"],
        items=outbound["items"],
        pgi=c.get("pgi"),
        wms=c.get("wms"),
        shipment=c.get("shipment"),
        created_at=view.created_at,
        updated_at=view.updated_at,
    )
