"""Orders (fulfillmenttools' shape) and their fulfillments (Spresso's), with the rules that govern them.

Statuses of an order:
- OPEN: placed; waiting to be paid (cash on delivery needs no payment) and for the grace period.
- LOCKED: fulfillable; being routed to locations.
- PROMISED: routed: its fulfillments are promised to locations and running as sessions (lines that
  could not be sourced are listed in `unfulfilledItems`).
- NOT_ROUTABLE: nothing could be sourced; `unfulfilledItems` says why. It is routed again when the
  network's stock or locations change, and can be cancelled (which frees its tenantOrderId).
- IN_TRANSIT: every fulfillment is in transit (or delivered).
- DELIVERED: every fulfillment is delivered.
- CANCELLED: cancelled (by the customer before it was fulfillable, or by an admin after).
A new order with the same tenantOrderId is refused while one is OPEN, LOCKED, PROMISED or NOT_ROUTABLE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from domain.errors import Conflict, DomainError, FieldError, Unprocessable
from domain.ids import order_line_id, order_process_id
from domain.model import MAX_INT, CamelModel, Timestamp
from domain.outbound import Promise
from domain.partners import PartnerEvent

ACTIVE = ("OPEN", "LOCKED", "PROMISED", "NOT_ROUTABLE")
# Set by the service, never by a client: a request naming one is refused (no mass assignment).
SERVER_OWNED = (
    "id",
    "tenant",
    "version",
    "status",
    "processId",
    "created",
    "lastModified",
    "updateDetails",
    "fulfillableAt",
    "fulfillments",
    "unfulfilledItems",
)
COD = "CASH_ON_DELIVERY"
Action = Literal["MARK_PAID", "CANCEL", "UPDATE_CONSUMER"]


class Flexible(CamelModel):
    model_config = CamelModel.model_config | {"extra": "allow"}


class Article(Flexible):
    tenant_article_id: str = Field(min_length=1, max_length=200)
    title: str = Field("", max_length=500)


class LineItem(Flexible):
    id: str | None = None
    article: Article
    quantity: int = Field(ge=0, le=100_000)


class Consumer(Flexible):
    addresses: list[dict[str, Any]] = Field(default_factory=list)
    email: str | None = None


class OrderCreate(Flexible):
    """The seed's body as is, plus payment fields and custom attributes."""

    consumer: Consumer | None = None
    tenant_order_id: str = Field(min_length=1, max_length=200)
    order_date: Timestamp | None = None
    order_line_items: list[LineItem] = Field(
        min_length=1,
        max_length=500,
        json_schema_extra={
            "contains": {"properties": {"quantity": {"minimum": 1}}, "required": ["quantity"]}
        },
        description="At least one line has a quantity above 0.",
    )
    delivery_preferences: dict[str, Any] = Field(default_factory=dict)
    payment_status: Literal["PENDING", "PAID"] = "PENDING"
    payment_method: str | None = Field(None, max_length=100)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    preferred_handling_time: Timestamp | None = None

    @field_validator("order_line_items")
    @classmethod
    def _something_to_fulfil(cls, items: list[LineItem]) -> list[LineItem]:
        if not any(i.quantity > 0 for i in items):
            raise ValueError("at least one order line item needs a quantity above 0")
        return items


class LinePatch(CamelModel):
    id: str
    quantity: int = Field(ge=0, le=100_000)


class OrderPatch(CamelModel):
    """Only what the seed lets change: quantities by line id, custom attributes, preferred handling time."""

    version: int = Field(ge=1, le=MAX_INT)
    comment: str | None = Field(None, max_length=2000)
    custom_attributes: dict[str, Any] | None = None
    preferred_handling_time: Timestamp | None = None
    order_line_items: list[LinePatch] | None = None


class ModificationConfig(CamelModel):
    version: int = Field(1, ge=1, le=MAX_INT)
    allow_order_line_item_modification: bool = True
    actor_anonymization: bool = True


class FulfillableConfig(CamelModel):
    version: int = Field(1, ge=1, le=MAX_INT)
    grace_period_seconds: int = Field(600, ge=0, le=30 * 24 * 3600)


class Variant(CamelModel):
    variant: str  # the article's tenantArticleId
    quantity: int
    fulfilled_quantity: int | None = None


class Shipment(CamelModel):
    carrier: str = Field(min_length=1, max_length=100)
    carrier_reference_id: str | None = Field(None, max_length=200)
    tracking_number: str = Field(min_length=1, max_length=200)
    tracking_url: str | None = Field(None, max_length=2000)
    shipment_variants: list[dict[str, Any]] = Field(min_length=1)
    quote_id: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        description="The carrier's quote it was booked on (`POST /v3/fulfillment/pricing/domestic`): its "
        "ETA is the shipment's promise, and a carrier estimate past it fires `shipment.delayed`.",
    )


class Fulfillment(CamelModel):
    id: str
    order_id: str
    location_ref: str
    status: Literal["open", "in_transit", "delivered", "cancelled"] = "open"
    variants: list[Variant]
    shipments: list[Shipment] = Field(default_factory=list)
    tracking: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per tracking number whose carrier is a CARRIER connector: its webhook registration "
        "and the carrier's latest status (normalized `status`, its own `carrierStatus`, `occurredAt`).",
    )
    session_id: str
    process_type: str


class FulfillmentUpdate(CamelModel):
    status: Literal["in_transit", "delivered", "cancelled"]
    fulfillment_variants: list[dict[str, Any]] | None = None


class Order(CamelModel):
    """The order as the API shows it (the workflow holds it; the read model mirrors it)."""

    model_config = CamelModel.model_config | {"extra": "allow"}
    id: str
    tenant: str
    version: int
    status: str
    process_id: str
    created: datetime
    last_modified: datetime
    tenant_order_id: str
    order_line_items: list[LineItem]
    payment_status: str
    payment_method: str | None = None
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    preferred_handling_time: datetime | None = None
    consumer: Consumer | None = None
    delivery_preferences: dict[str, Any] = Field(default_factory=dict)
    update_details: list[dict[str, Any]] = Field(default_factory=list)
    fulfillable_at: datetime | None = None
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    unfulfilled_items: list[dict[str, Any]] = Field(
        default_factory=list, description="Lines the last routing could not source, with the reason."
    )


class OrderEvent(CamelModel):
    type: str
    sequence: int  # per order, from 1, without gaps
    at: datetime
    data: dict[str, Any]


class OrderChange(CamelModel):
    """What one change of an order writes, in one transaction."""

    order: Order
    events: list[OrderEvent]


class RouteRequest(CamelModel):
    order: Order
    generation: int


class Routed(CamelModel):
    fulfillments: list[Fulfillment]
    unfulfilled: list[dict[str, object]]


class SessionMove(CamelModel):
    tenant: str
    session_id: str
    process_type: str
    status: str  # the fulfillment's new status


# What the order workflow takes: its start, and the arguments of its Updates.


class OrderStart(CamelModel):
    order: Order
    fulfillable: FulfillableConfig


class Modify(CamelModel):
    patch: OrderPatch
    config: ModificationConfig
    user: str


class OrderAction(CamelModel):
    name: Action
    consumer: Consumer | None = None
    admin: bool = False
    user: str


class OptionsHold(CamelModel):
    """A selected plan's stock, held until the options are confirmed or cancelled, or it expires."""

    tenant: str
    options_id: str
    plan_id: str
    seconds: int


class StockSettlement(CamelModel):
    """Fulfillments' reservations ended: consumed (the goods left) or released (cancelled, re-routed)."""

    tenant: str
    fulfillment_ids: list[str]
    consumed: bool
    shipped: dict[str, int] = Field(default_factory=dict)  # consumed: units per SKU that left (else all)


class CarrierEvent(CamelModel):
    """A carrier's `shipment.status` for a shipment of one of the order's fulfillments."""

    fulfillment_id: str
    event: PartnerEvent


class FulfillmentCommand(CamelModel):
    fulfillment_id: str
    shipment: Shipment | None = None
    promise: Promise | None = None  # the shipment's quote, resolved by the API
    update: FulfillmentUpdate | None = None


def new_order(tenant: str, order_id: str, body: OrderCreate, now: datetime) -> Order:
    """The order as placed; a server-owned field in the request is refused, naming it."""
    for name in SERVER_OWNED:
        if name in (body.model_extra or {}):
            raise DomainError.one("SERVER_OWNED_FIELD", f"{name} is set by the service, not the client", name)
    data = body.model_dump(mode="json")
    items = [{**item, "id": order_line_id(order_id, n)} for n, item in enumerate(data.pop("orderLineItems"))]
    return Order.model_validate(
        {
            **data,
            "orderLineItems": items,
            "id": order_id,
            "tenant": tenant,
            "version": 1,
            "status": "OPEN",
            "processId": order_process_id(order_id),
            "created": now,
            "lastModified": now,
        }
    )


def destination(
    delivery_preferences: dict[str, Any], consumer: Consumer | None
) -> tuple[Literal["HD", "CC"], str | None, float | None, float | None]:
    """How the order is fulfilled (home delivery or click & collect), its pickup location, and the
    consumer's coordinates; a malformed value is refused naming its field, so it can never reach
    routing (where it would fail every retry)."""
    collect = delivery_preferences.get("collect")
    if collect is not None and not isinstance(collect, dict):
        raise DomainError.one("INVALID_FIELD", "collect must be an object", "deliveryPreferences.collect")
    pickup = collect.get("locationRef") if collect else None
    if pickup is not None and (not isinstance(pickup, str) or not 0 < len(pickup) <= 100):
        message = "locationRef must be a location's ref (1 to 100 characters)"
        raise DomainError.one("INVALID_FIELD", message, "deliveryPreferences.collect.locationRef")
    address = consumer.addresses[0] if consumer and consumer.addresses else {}
    point = []
    for name, bound in (("latitude", 90), ("longitude", 180)):
        value = address.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > bound
        ):
            message = f"{name} must be a number from -{bound} to {bound}"
            raise DomainError.one("INVALID_COORDINATE", message, f"consumer.addresses[0].{name}")
        point.append(None if value is None else float(value))
    return ("CC" if pickup else "HD"), pickup, point[0], point[1]


def needs_payment(order: Order) -> bool:
    return order.payment_method != COD and order.payment_status != "PAID"


def check_patch(order: Order, patch: OrderPatch, config: ModificationConfig) -> None:
    """Refuse a modification the seed's rules do not allow; every creation validation applies again."""
    if patch.version != order.version:
        raise StaleVersion(order.version)
    if order.status not in ACTIVE:
        raise DomainError(
            [FieldError("ORDER_CLOSED", f"a {order.status} order cannot be modified", "status")]
        )
    if patch.order_line_items is not None:
        if not config.allow_order_line_item_modification:
            raise LineItemsLocked()
        known = {i.id for i in order.order_line_items}
        for n, line in enumerate(patch.order_line_items):
            if line.id not in known:
                raise DomainError(
                    [FieldError("UNKNOWN_LINE_ITEM", f"no line item {line.id!r}", f"orderLineItems[{n}].id")]
                )
        quantities = {i.id: i.quantity for i in order.order_line_items} | {
            p.id: p.quantity for p in patch.order_line_items
        }
        if not any(q > 0 for q in quantities.values()):
            raise DomainError(
                [
                    FieldError(
                        "NO_QUANTITY",
                        "at least one order line item needs a quantity above 0",
                        "orderLineItems",
                    )
                ]
            )


def apply_patch(order: Order, patch: OrderPatch, now: datetime, user: str | None) -> dict[str, Any]:
    """Apply a checked patch to the order in place (whoever holds the order sees the change); the
    changes made, for the event."""
    changes = patch.model_dump(mode="json", exclude_none=True, exclude={"version", "comment"})
    updated = order
    if patch.order_line_items is not None:
        quantities = {p.id: p.quantity for p in patch.order_line_items}
        updated.order_line_items = [
            i.model_copy(update={"quantity": quantities.get(i.id or "", i.quantity)})
            for i in updated.order_line_items
        ]
    if patch.custom_attributes is not None:
        updated.custom_attributes = {**updated.custom_attributes, **patch.custom_attributes}
    if patch.preferred_handling_time is not None:
        updated.preferred_handling_time = patch.preferred_handling_time
    detail: dict[str, Any] = {"created": now.isoformat(), "comment": patch.comment, "changes": changes}
    if user is not None:
        detail["user"] = user
    updated.update_details = [*updated.update_details, detail]
    updated.version, updated.last_modified = order.version + 1, now
    return changes


def check_fulfillment_update(f: Fulfillment, update: FulfillmentUpdate) -> list[Variant]:
    """The variants after a status change, or a DomainError saying what is wrong."""
    if update.status == "cancelled":
        raise _unprocessable(
            "CANCEL_NOT_SUPPORTED",
            "fulfillments cannot be cancelled through this API; cancel the order from the admin side",
            "status",
        )
    if f.status in ("delivered", "cancelled"):
        raise _unprocessable("FULFILLMENT_CLOSED", f"the fulfillment is {f.status}", "status")
    if update.status == "delivered":
        if f.status != "in_transit":
            raise _unprocessable(
                "NOT_IN_TRANSIT", "a fulfillment is delivered after it is in transit", "status"
            )
        return f.variants
    given = {str(v.get("variant")): v for v in update.fulfillment_variants or []}
    missing = [v.variant for v in f.variants if v.variant not in given]
    if missing:
        raise _unprocessable(
            "VARIANTS_MISSING",
            f"in_transit must list every variant; missing {missing}",
            "fulfillmentVariants",
        )
    out = []
    for n, v in enumerate(f.variants):
        fulfilled = given[v.variant].get("fulfilledQuantity")
        if not isinstance(fulfilled, int) or not 0 <= fulfilled <= v.quantity:
            raise _unprocessable(
                "BAD_QUANTITY",
                f"fulfilledQuantity of {v.variant} must be 0 to {v.quantity}",
                f"fulfillmentVariants[{n}].fulfilledQuantity",
            )
        out.append(v.model_copy(update={"fulfilled_quantity": fulfilled}))
    extra = set(given) - {v.variant for v in f.variants}
    if extra:
        raise _unprocessable(
            "UNKNOWN_VARIANT", f"not in this fulfillment: {sorted(extra)}", "fulfillmentVariants"
        )
    return out


def check_shipment(f: Fulfillment, shipment: Shipment) -> None:
    """A shipment's quantities, with the fulfillment's earlier shipments, stay within it; its
    tracking number is new to the fulfillment."""
    if f.status in ("delivered", "cancelled"):
        raise _unprocessable("FULFILLMENT_CLOSED", f"the fulfillment is {f.status}", "status")
    if any(s.tracking_number == shipment.tracking_number for s in f.shipments):
        message = f"the fulfillment has a shipment with tracking number {shipment.tracking_number!r}"
        raise Conflict.one("SHIPMENT_EXISTS", message, "trackingNumber")
    for n, line in enumerate(shipment.shipment_variants):
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _unprocessable(
                "BAD_QUANTITY", "quantity must be a whole number above 0", f"shipmentVariants[{n}].quantity"
            )
    shipped: dict[str, int] = {}
    for s in [*f.shipments, shipment]:
        for line in s.shipment_variants:
            shipped[str(line.get("variant"))] = shipped.get(str(line.get("variant")), 0) + int(
                line.get("quantity", 0)
            )
    limits = {v.variant: v.quantity for v in f.variants}
    for n, line in enumerate(shipment.shipment_variants):
        name = str(line.get("variant"))
        if name not in limits:
            raise _unprocessable(
                "UNKNOWN_VARIANT", f"{name!r} is not in this fulfillment", f"shipmentVariants[{n}].variant"
            )
        if shipped[name] > limits[name]:
            raise _unprocessable(
                "TOO_MANY",
                f"{shipped[name]} of {name} shipped, the fulfillment has {limits[name]}",
                f"shipmentVariants[{n}].quantity",
            )


def rolled_up(order: Order) -> str:
    live = [f for f in order.fulfillments if f.status != "cancelled"]
    if live and all(f.status == "delivered" for f in live):
        return "DELIVERED"
    if live and all(f.status in ("in_transit", "delivered") for f in live):
        return "IN_TRANSIT"
    return order.status


class StaleVersion(Conflict):
    def __init__(self, current: int) -> None:
        super().__init__([FieldError("VERSION_CONFLICT", f"the order is at version {current}", "version")])


class LineItemsLocked(Unprocessable):
    def __init__(self) -> None:
        super().__init__(
            [
                FieldError(
                    "LINE_ITEM_MODIFICATION_DISABLED",
                    "the order modification configuration does not allow changing order line items",
                    "orderLineItems",
                )
            ]
        )


def _unprocessable(code: str, message: str, field: str | None) -> Unprocessable:
    return Unprocessable([FieldError(code, message, field)])
