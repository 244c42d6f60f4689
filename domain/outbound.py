"""Outbound orders through an OMS and a WMS, and carrier tracking (the 3PL seed's red flow).

An outbound is a session of the built-in code process `OUTBOUND`, run by its own workflow type
(`OutboundOrder`): its definition is made per outbound (`outbound_process`) so its `call` step names
the tenant's OMS connector. RECEIVED calls the OMS; SUBMITTED awaits its confirmation; CONFIRMED
awaits the goods issue (PGI); from GOODS_ISSUED on, the PGI is forwarded to the WMS and carrier
status events move the shipment. Carriers speak their own words: `normalize` maps them onto eight
statuses, the word kept beside.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, Field, field_validator

from domain.logistics import Dimensions
from domain.model import CamelModel, not_unicode
from domain.process import (
    AwaitStep,
    CallStep,
    ProcessDefinition,
    StateDef,
    Transition,
    validate_definition,
)

PROCESS_TYPE = "OUTBOUND"
TRACKING = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
SKU = r"^[^\x00-\x1f\x7f]{1,100}$"
TEXT = r"^[^\x00-\x1f\x7f]*$"

# States in the order an outbound goes through them.
RECEIVED, SUBMITTED, CONFIRMED, REJECTED = "RECEIVED", "SUBMITTED", "CONFIRMED", "REJECTED"
GOODS_ISSUED, IN_TRANSIT, OUT_FOR_DELIVERY = "GOODS_ISSUED", "IN_TRANSIT", "OUT_FOR_DELIVERY"
FAILED_DELIVERY, DELIVERED, RETURNED = "FAILED_DELIVERY", "DELIVERED", "RETURNED"
STATUSES = (
    RECEIVED,
    SUBMITTED,
    CONFIRMED,
    REJECTED,
    GOODS_ISSUED,
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    FAILED_DELIVERY,
    DELIVERED,
    RETURNED,
)
SHIPPING = (GOODS_ISSUED, IN_TRANSIT, OUT_FOR_DELIVERY, FAILED_DELIVERY)  # carrier events move these
SHIPMENT_SETTABLE = (CONFIRMED, *SHIPPING)

# Partner events (docs/partners.md).
CONFIRMED_EVENT, REJECTED_EVENT, PGI_EVENT = "outbound.confirmed", "outbound.rejected", "outbound.pgi"
STATUS_EVENT = "shipment.status"

# Actions the process applies (none is a client's: the outbound routes drive it).
SET_SHIPMENT, WMS_ACCEPTED, WMS_REFUSED, TRACKING_REGISTERED = (
    "set_shipment",
    "wms_accepted",
    "wms_refused",
    "tracking_registered",
)
RESEND_PGI = "resend_pgi"  # the PGI to the WMS again, after it refused it
CARRIER_UPDATE = "carrier_update"  # a carrier event that keeps the status (PRE_TRANSIT, EXCEPTION, …)
CARRIER_STALE = "carrier_stale"  # a carrier event older than the shipment's status: recorded, not applied

# The normalized carrier statuses that move the outbound, and the action each applies (the others,
# PRE_TRANSIT, EXCEPTION and UNKNOWN, are recorded as a `carrier_update` that keeps its status).
MOVES: dict[str, tuple[str, str]] = {  # normalized status -> (action, the outbound's new status)
    "IN_TRANSIT": ("in_transit", IN_TRANSIT),
    "OUT_FOR_DELIVERY": ("out_for_delivery", OUT_FOR_DELIVERY),
    "DELIVERED": ("deliver", DELIVERED),
    "FAILED_DELIVERY": ("fail_delivery", FAILED_DELIVERY),
    "RETURNED": ("return_to_sender", RETURNED),
}
FINAL = ("DELIVERED", "RETURNED")  # they end the outbound: they wait for the WMS to accept the PGI

# Carriers' own words (lower case, punctuation as spaces) for each status; anything else is UNKNOWN.
WORDS: dict[str, tuple[str, ...]] = {
    "PRE_TRANSIT": (
        "pre transit",
        "label created",
        "label printed",
        "info received",
        "shipment information received",
        "manifested",
        "awaiting pickup",
        "accepted",
        "registered",
    ),
    "IN_TRANSIT": (
        "in transit",
        "transit",
        "picked up",
        "pickup",
        "collected",
        "departed",
        "arrived at hub",
        "arrived at facility",
        "sorted",
        "processed",
        "on the way",
        "shipped",
    ),
    "OUT_FOR_DELIVERY": ("out for delivery", "ofd", "with courier", "on vehicle for delivery", "with driver"),
    "DELIVERED": (
        "delivered",
        "dlv",
        "delivered to neighbour",
        "delivered to neighbor",
        "picked up by consignee",
    ),
    "FAILED_DELIVERY": (
        "failed delivery",
        "delivery failed",
        "delivery attempted",
        "attempted",
        "attempt failed",
        "not delivered",
        "recipient not home",
        "undeliverable",
    ),
    "RETURNED": ("returned", "returned to sender", "return to sender", "rts", "return delivered"),
    "EXCEPTION": ("exception", "delayed", "damaged", "lost", "held", "customs hold", "address problem"),
}
_LOOKUP = {word: status for status, words in WORDS.items() for word in words}


def normalize(word: str) -> str:
    """A carrier's status word as one of the eight statuses (UNKNOWN when no list has it)."""
    key = " ".join(re.sub(r"[^a-z0-9]+", " ", word.lower()).split())
    return _LOOKUP.get(key, "UNKNOWN")


class Consignee(CamelModel):
    name: str = Field(min_length=1, max_length=200, pattern=TEXT)
    address1: str = Field(min_length=1, max_length=200, pattern=TEXT)
    city: str = Field(min_length=1, max_length=100, pattern=TEXT)
    postcode: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. `NL`.")
    phone: str | None = Field(None, min_length=3, max_length=30, pattern=r"^\+?[0-9 ()./-]+$")


class OutboundItem(CamelModel):
    sku: str = Field(pattern=SKU)
    quantity: int = Field(gt=0, le=1_000_000, strict=True)  # strict: "2" and true are not numbers
    weight_kg: float | None = Field(None, gt=0, le=100_000, strict=True)
    dimensions_cm: Dimensions | None = None


class OutboundCreate(CamelModel):
    """`POST /v3/fulfillment/outbound/oms`: the shipper's outbound (or return) order."""

    tracking_id_shipper: str = Field(
        pattern=TRACKING, description="The shipper's id of the outbound: unique per tenant, and its key."
    )
    type: Literal["OUTBOUND", "RETURN"]
    reference: str | None = Field(None, min_length=1, max_length=200, pattern=TEXT)
    warehouse_ref: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="The WMS connector's name; the tenant's only WMS connector when left out.",
    )
    quote_id: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="A quote of `POST /v3/fulfillment/pricing/domestic`: its ETA is the shipment's promise.",
    )
    consignee: Consignee
    items: list[OutboundItem] = Field(min_length=1, max_length=500)

    @field_validator("reference", "tracking_id_shipper")
    @classmethod
    def _unicode(cls, value: str | None) -> str | None:
        if value is not None and not_unicode(value):
            raise ValueError("not valid Unicode (a lone surrogate)")
        return value


class ShipmentSet(CamelModel):
    """`PUT /v3/fulfillment/outbound/{id}/shipment`: who carries it, under which number."""

    carrier: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="A CARRIER connector's name.",
    )
    tracking_number: str = Field(pattern=TRACKING)
    quote_id: str | None = Field(
        None, min_length=1, max_length=40, description="The quote it was booked on: its ETA is the promise."
    )


class Promise(CamelModel):
    """The delivery date promised when the shipment was priced: the ledger's left side."""

    quote_id: str
    provider: str
    promised_by: date


def promise_of(quote_id: str, provider: str, priced_at: datetime, eta_days: int) -> Promise:
    return Promise(
        quote_id=quote_id, provider=provider, promised_by=(priced_at + timedelta(days=eta_days)).date()
    )


class ShipmentUpdate(CamelModel):
    """What the workflow is told when a shipment is set (the API resolved the quote, if any)."""

    carrier: str
    tracking_number: str
    promise: Promise | None = None
    actor: str = "system:process"


class CarrierStatus(CamelModel):
    """A carrier's `shipment.status` event's data (checked when it arrives, read by the workflow);
    other members are the carrier's to send, kept with the event."""

    model_config = CamelModel.model_config | {"extra": "ignore"}

    tracking_number: str | None = Field(None, min_length=1, max_length=100)
    status: str = Field(min_length=1, max_length=200, description="The carrier's own word.")
    occurred_at: AwareDatetime = Field(description="When it happened, with its UTC offset.")
    location: str | None = Field(None, max_length=200)
    estimated_delivery: date | None = None

    @field_validator("estimated_delivery", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        """A date, or the date of a timestamp."""
        if isinstance(value, str) and "T" in value:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        return value


class PgiLine(CamelModel):
    model_config = CamelModel.model_config | {"extra": "ignore"}
    sku: str = Field(pattern=SKU)
    quantity: int = Field(gt=0, le=1_000_000, strict=True)


class PgiData(CamelModel):
    """An OMS's `outbound.pgi` event's data (other members are kept with the event)."""

    model_config = CamelModel.model_config | {"extra": "ignore"}

    items: list[PgiLine] | None = Field(None, min_length=1, max_length=500)
    issued_at: AwareDatetime | None = None
    carrier: str | None = Field(None, max_length=100)
    tracking_number: str | None = Field(None, max_length=100)


# The events of this contract whose data is checked when they arrive (a 400 names the field).
EVENT_DATA: dict[str, type[CamelModel]] = {STATUS_EVENT: CarrierStatus, PGI_EVENT: PgiData}


class Track(CamelModel):
    """A shipment's tracking to record before the carrier is asked to send its events: an
    outbound's (its session), or a fulfillment's (its order takes the events)."""

    tenant: str
    session_id: str
    carrier: str
    tracking_number: str
    order_id: str | None = None
    fulfillment_id: str | None = None


class Tracked(CamelModel):
    """Where the carrier is to send events for it: our inbound URL for its connector."""

    callback_url: str


class HistoryEntry(CamelModel):
    status: str
    action: str
    actor: str
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class OutboundView(CamelModel):
    id: str
    tracking_id_shipper: str
    type: str
    reference: str | None
    warehouse_ref: str | None
    status: str
    oms_order_id: str | None
    consignee: dict[str, Any]
    items: list[dict[str, Any]]
    pgi: dict[str, Any] | None = Field(description="The OMS's goods issue: items, quantities, issuedAt.")
    wms: dict[str, Any] | None = Field(
        description="The PGI at the WMS: its `connector`, `status` PENDING, ACCEPTED or REFUSED (`reason`)."
    )
    shipment: dict[str, Any] | None = Field(
        description="Carrier, tracking number, normalized `status` and the carrier's own `carrierStatus`, "
        "`promisedBy` beside the carrier's `estimatedDelivery`, `delayed`, `trackingRegistered`, `events` "
        "(the newest 50), `stale` (events older than its status: recorded, not applied)."
    )
    created_at: datetime
    updated_at: datetime


class Acknowledged(CamelModel):
    id: str
    tracking_id_shipper: str
    status: str


def outbound_process(oms: str) -> ProcessDefinition:
    """The definition an outbound runs: its `call` step names the tenant's OMS connector."""
    transitions = [
        (RECEIVED, "submit", SUBMITTED),
        (RECEIVED, "reject", REJECTED),
        (SUBMITTED, "confirm", CONFIRMED),
        (SUBMITTED, "reject", REJECTED),
        (CONFIRMED, "issue_goods", GOODS_ISSUED),
        (CONFIRMED, SET_SHIPMENT, CONFIRMED),
    ]
    for state in SHIPPING:
        own = (SET_SHIPMENT, WMS_ACCEPTED, WMS_REFUSED, RESEND_PGI, CARRIER_UPDATE, CARRIER_STALE)
        transitions += [(state, a, state) for a in own]
        transitions += [(state, action, to) for action, to in MOVES.values()]
    transitions += [(CONFIRMED, TRACKING_REGISTERED, CONFIRMED)]
    transitions += [(state, TRACKING_REGISTERED, state) for state in SHIPPING]
    steps: dict[str, list[Any]] = {
        RECEIVED: [
            CallStep(
                kind="call",
                connector=oms,
                method="POST",
                path="/outbound-orders",
                body="{{session.context.outbound}}",
                result_key="oms",
                on_success="submit",
                on_failure="reject",
                max_attempts=100,  # backing off to 5 minutes: the OMS may be down for hours
            )
        ],
        SUBMITTED: [
            AwaitStep(kind="await", event=CONFIRMED_EVENT, action="confirm"),
            AwaitStep(kind="await", event=REJECTED_EVENT, action="reject"),
        ],
        CONFIRMED: [AwaitStep(kind="await", event=PGI_EVENT, action="issue_goods")],
    }
    return validate_definition(
        ProcessDefinition(
            type=PROCESS_TYPE,
            version=1,
            kind="code",
            description="An outbound order through the OMS and the WMS, tracked at its carrier.",
            states=[StateDef(name=s, steps=steps.get(s, [])) for s in STATUSES],
            initial_state=RECEIVED,
            terminal_states=[REJECTED, DELIVERED, RETURNED],
            transitions=[
                Transition.model_validate({"from": f, "action": a, "to": t, "system": True})
                for f, a, t in transitions
            ],
        )
    )
