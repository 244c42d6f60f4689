"""Domain events: the catalogue of types with their data schemas, and the event envelope.

An event's id derives from tenant, subject and sequence, so writing the same change twice (a retried
activity) yields the same id: it is the `webhook-id` partners de-duplicate on.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import Field

from domain.changes import ChangeView
from domain.model import CamelModel


class SessionEventData(CamelModel):
    session_id: str
    cart_id: str
    reference: str | None
    process_type: str
    process_version: int
    revision: int
    action: str
    from_: str | None = Field(alias="from")
    to: str
    status: str
    allowed_actions: list[str]
    terminal: bool
    actor: str
    comment: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class EndpointDisabledData(CamelModel):
    webhook_id: str
    url: str
    reason: str


class WebhookTestData(CamelModel):
    webhook_id: str
    message: str


class OrderEventData(CamelModel):
    """Order events carry the order number and id; their other fields depend on the type."""

    model_config = CamelModel.model_config | {"extra": "allow"}
    order_id: str
    order_no: str
    status: str


class OutboundEventData(CamelModel):
    """Outbound and shipment events carry the outbound's id, its `trackingIdShipper` and status; their
    other fields depend on the type (docs/partners.md)."""

    model_config = CamelModel.model_config | {"extra": "allow"}
    outbound_id: str
    tracking_id_shipper: str
    status: str | None


class ShipmentEventData(CamelModel):
    """A shipment's carrier status: an outbound's (`outboundId`, `trackingIdShipper`, `outboundStatus`)
    or a fulfillment's (`orderId`, `orderNo`, `fulfillmentId`, `orderStatus`)."""

    model_config = CamelModel.model_config | {"extra": "allow"}
    carrier: str
    tracking_number: str
    status: str
    previous_status: str | None = None
    carrier_status: str
    occurred_at: str
    location: str | None = None
    estimated_delivery: str | None = None


CATALOGUE: dict[str, tuple[str, type[CamelModel]]] = {
    "order.created": ("An order was placed.", OrderEventData),
    "order.modified": ("An order was modified (with the changes and the new version).", OrderEventData),
    "order.paid": ("An order was marked paid.", OrderEventData),
    "order.consumer_updated": ("An order's consumer details changed.", OrderEventData),
    "order.fulfillable": (
        "Paid and past the grace period: routed into fulfillments (ids, variants).",
        OrderEventData,
    ),
    "order.rerouted": (
        "The order's fulfillments were planned again (after a modification, or when stock arrived).",
        OrderEventData,
    ),
    "order.not_routable": (
        "Nothing of the order could be sourced; `unfulfilledItems` says why. It is routed again when the "
        "network changes.",
        OrderEventData,
    ),
    "order.cancelled": ("An order was cancelled.", OrderEventData),
    "order.in_transit": ("Every fulfillment of the order is in transit.", OrderEventData),
    "order.delivered": ("Every fulfillment of the order is delivered.", OrderEventData),
    "fulfillment.shipment_added": (
        "A shipment (carrier, tracking) was added to a fulfillment.",
        OrderEventData,
    ),
    "fulfillment.in_transit": ("A fulfillment is in transit, with its fulfilled quantities.", OrderEventData),
    "fulfillment.delivered": ("A fulfillment was delivered.", OrderEventData),
    "outbound.confirmed": ("The OMS confirmed an outbound order (with its `omsOrderId`).", OutboundEventData),
    "outbound.rejected": (
        "The OMS rejected an outbound order, or never took it; `reason` says why.",
        OutboundEventData,
    ),
    "outbound.goods_issued": (
        "The OMS posted the goods issue (`pgi`: items, quantities, time); it is forwarded to the WMS.",
        OutboundEventData,
    ),
    "outbound.wms_refused": (
        "The WMS refused an outbound's goods issue; `reason` says why.",
        OutboundEventData,
    ),
    "shipment.status_changed": (
        "A carrier reported the status of an outbound's or a fulfillment's shipment: `status` normalized "
        "(PRE_TRANSIT, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, FAILED_DELIVERY, RETURNED, EXCEPTION, "
        "UNKNOWN), `carrierStatus` its own word; in the order the carrier's events happened.",
        ShipmentEventData,
    ),
    "shipment.delayed": (
        "A carrier's estimated delivery passed the date promised when the shipment was priced (once).",
        ShipmentEventData,
    ),
    "session.created": ("A session started in its process's initial state.", SessionEventData),
    "session.status_changed": ("A session moved from one state to another by an action.", SessionEventData),
    "session.changed": (
        "An accepted change proposal changed a session's pickup time, location or items (`data`), in "
        "the same state.",
        SessionEventData,
    ),
    "change.proposed": (
        "A change to a pickup session was proposed (`changes`, `reason`, `proposedBy`, `preview`, "
        "`expiresAt`); it waits for `accept_change`.",
        ChangeView,
    ),
    "change.accepted": ("A change proposal was accepted and applied to its session.", ChangeView),
    "change.rejected": ("A change proposal was rejected.", ChangeView),
    "change.expired": ("A change proposal was not decided in time.", ChangeView),
    "change.failed": (
        "An accepted change could not be applied (`failureCode`, `failure`); the session is as it was.",
        ChangeView,
    ),
    "endpoint.disabled": (
        "A webhook endpoint was disabled (410 Gone, or failing for 5 days).",
        EndpointDisabledData,
    ),
    "webhook.test": ("Sent on request to one endpoint, to check it receives and verifies.", WebhookTestData),
}


class Event(CamelModel):
    id: str
    type: str
    tenant: str
    subject: str
    sequence: int
    cursor: int
    occurred_at: datetime
    data: dict[str, Any]


def wanted_by(event_type: str, subject: str, webhook_id: str, filters: list[str]) -> bool:
    """Whether a webhook takes an event: its filter decides, but a test event goes to its own webhook only."""
    if event_type == "webhook.test":
        return subject == webhook_id
    return matches(event_type, filters)


class ProcessEventData(CamelModel):
    """A `notify` step's event: the session as it entered the state, and the step's payload."""

    session_id: str
    reference: str | None
    status: str
    revision: int
    payload: Any = None


CUSTOM = "process.*"
"""The family of the events process definitions emit (`notify` steps): `process.<event>`."""
CUSTOM_TYPE = r"process\.[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*"
FILTERS = sorted({*CATALOGUE, *(t.split(".")[0] + ".*" for t in CATALOGUE), CUSTOM})
"""Every value an event-type filter may take: a type, or a family (`session.*`); besides these, any
`process.<event>` a process emits."""
_ONE = "|".join([*(re.escape(f) for f in FILTERS), CUSTOM_TYPE])
FILTER_LIST = f"^({_ONE})(,({_ONE}))*$"
"""A comma-separated list of filters, as a query parameter takes them."""


def known_filter(value: str) -> bool:
    if value in FILTERS or re.fullmatch(CUSTOM_TYPE, value):
        return True
    if value.endswith(".*"):
        return any(t.startswith(value[:-1]) for t in CATALOGUE)
    return False


def matches(event_type: str, wanted: list[str]) -> bool:
    """An empty filter takes every type; `session.*` takes a family."""
    return not wanted or any(
        w == event_type or (w.endswith(".*") and event_type.startswith(w[:-1])) for w in wanted
    )
