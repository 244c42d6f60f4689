"""The network (locations, inventory), the per-tenant sourcing profile, and the options request/answer."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, JsonValue, WithJsonSchema, field_validator, model_validator

from domain.model import MAX_INT, CamelModel

OrderType = Literal["HD", "CC"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZONES: list[JsonValue] = [*sorted(available_timezones())]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# An [open, close] pair of HH:MM times (stated as an array of two, which OpenAPI can express).
Span = Annotated[
    tuple[str, str],
    WithJsonSchema(
        {"type": "array", "items": {"type": "string", "pattern": _HHMM.pattern}, "minItems": 2, "maxItems": 2}
    ),
]


class Location(CamelModel):
    model_config = CamelModel.model_config | {"extra": "ignore"}
    ref: str = Field(min_length=1, max_length=100)
    type: Literal["STORE", "WAREHOUSE", "DC"]
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: dict[str, Any] = Field(default_factory=dict)
    timezone: str = Field(
        "UTC",
        min_length=1,
        max_length=64,
        description="An IANA time zone, e.g. Europe/Amsterdam.",
        json_schema_extra={"enum": ZONES},
    )
    opening_hours: dict[str, list[Span]] = Field(
        default_factory=dict,
        json_schema_extra={"propertyNames": {"enum": list(WEEKDAYS)}},
        description="Per weekday (mon..sun) a list of [open, close] HH:MM in `timezone`; empty: always "
        "open. `closedDates` given here is taken as the field of that name.",
    )
    closed_dates: list[date] = Field(
        default_factory=list, max_length=366, description="Whole days closed (holidays), local dates."
    )
    preparation_minutes: dict[str, Annotated[int, Field(strict=True)]] = Field(
        default_factory=dict,
        description="Minutes to prepare a pickup, per process type (`*`: any other type).",
        json_schema_extra={"additionalProperties": {"type": "integer", "minimum": 0, "maximum": 10080}},
    )
    pickup_capacity_per_hour: int | None = Field(
        None, gt=0, le=100_000, strict=True, description="Pickup sessions handled an hour; null: no queue."
    )
    capabilities: list[OrderType] = Field(default_factory=lambda: list[OrderType](["HD"]))
    daily_capacity: int | None = Field(
        None, ge=0, le=MAX_INT, description="Fulfillments a day; null: unlimited."
    )
    capacity_used: int = Field(0, ge=0, le=MAX_INT, description="Fulfillments taken today.")
    priority: int = Field(0, ge=-1000, le=1000, description="Higher wins a tie between equal plans.")
    network_tags: list[str] = Field(default_factory=list)
    lead_time_hours: float = Field(
        4, ge=0, le=8760, description="Hours from assignment to dispatch (or to pickup)."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Amsterdam)") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _closed_dates_in_hours(cls, value: Any) -> Any:
        """`openingHours.closedDates` (the shape the seed's clients send) is `closedDates`."""
        if isinstance(value, dict) and isinstance(value.get("openingHours"), dict):
            hours = dict(value["openingHours"])
            if "closedDates" in hours:
                inner, outer = hours.pop("closedDates"), value.get("closedDates")
                if outer is not None and not (isinstance(inner, list) and isinstance(outer, list)):
                    raise ValueError("closedDates: give them once, as a list of dates")
                merged = inner if outer is None else [*outer, *inner]
                value = {**value, "openingHours": hours, "closedDates": merged}
        return value

    @field_validator("preparation_minutes")
    @classmethod
    def _preparation(cls, value: dict[str, int]) -> dict[str, int]:
        for process, minutes in value.items():
            if not (process == "*" or re.fullmatch(r"[A-Z][A-Z0-9_]{0,99}", process)):
                raise ValueError(f"{process!r} is neither a process type nor `*`")
            if not 0 <= minutes <= 10080:
                raise ValueError(f"{process}: minutes must be from 0 to 10080 (a week)")
        return value

    def preparation(self, process_type: str) -> int:
        """Minutes to prepare a pickup of a session of `process_type` here."""
        return self.preparation_minutes.get(process_type, self.preparation_minutes.get("*", 0))

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[Span]]) -> dict[str, list[Span]]:
        for day, spans in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not one of {', '.join(WEEKDAYS)}")
            for start, end in spans:
                if not (_HHMM.match(start) and _HHMM.match(end)) or start >= end:
                    raise ValueError(f"{day}: {start}-{end} is not an HH:MM span that ends after it starts")
        return value


class InventoryPosition(CamelModel):
    model_config = CamelModel.model_config | {"extra": "ignore"}
    location_ref: str = Field(min_length=1, max_length=100)
    sku_ref: str = Field(min_length=1, max_length=100)
    on_hand: int = Field(ge=0, le=MAX_INT)
    reserved: int = Field(
        0,
        ge=0,
        le=MAX_INT,
        description="Held elsewhere (what you PUT); read back, it adds what routed orders hold here.",
    )
    safety_stock: int = Field(0, ge=0, le=MAX_INT)
    reserved_by_orders: int = Field(
        0,
        ge=0,
        le=MAX_INT,
        description="Read only: of `reserved`, what reservations hold here (routed orders, selected "
        "fulfilment options, pickup sessions; their rows at "
        "`/inventory/{locationRef}/{skuRef}/reservations`).",
    )

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved - self.safety_stock, 0)


Criterion = Literal["unfulfilled", "splits", "cost", "eta"]


class SourcingProfile(CamelModel):
    """How plans are ranked and fenced, per tenant."""

    version: int = Field(1, ge=1, le=MAX_INT, description="Send the version you read (409 when stale).")
    objective: list[Criterion] = Field(
        default_factory=lambda: list[Criterion](["unfulfilled", "splits", "cost", "eta"]),
        json_schema_extra={"uniqueItems": True, "contains": {"const": "unfulfilled"}},
        description="Criteria in rank order, each once, `unfulfilled` among them.",
    )
    weights: dict[Criterion, float] = Field(
        default_factory=dict, description="Optional: rank by the weighted sum instead of lexicographically."
    )
    max_split: int = Field(3, ge=0, le=10, description="At most this many extra locations per plan.")
    max_distance_km: float | None = Field(
        None, gt=0, le=40_000, description="Home delivery fence; null: none."
    )
    shipment_cost: float = Field(
        5.0, ge=0, le=1e9, description="Cost of each fulfillment (location) in a plan."
    )
    cost_per_unit_km: float = Field(
        0.01, ge=0, le=1e9, description="Cost of carrying one unit one kilometre."
    )
    speed_kmh: float = Field(
        60, gt=0, le=10_000, description="Carrier speed for the distance part of an ETA."
    )
    allow_transfers: bool = Field(
        False, description="Click & collect: other locations may transfer to the pickup."
    )

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: list[str]) -> list[str]:
        if sorted(value) != sorted(set(value)) or "unfulfilled" not in value:
            raise ValueError("objective lists criteria once each and includes unfulfilled")
        return value


class Line(CamelModel):
    sku_ref: str
    quantity: int


class SourcingRequest(CamelModel):
    """What the engine needs, distilled from an options request."""

    order_type: OrderType
    lines: list[Line]
    latitude: float | None = None
    longitude: float | None = None
    pickup_ref: str | None = None
    limit: int = 10
    handling_time: datetime | None = None


class PlanLine(CamelModel):
    sku_ref: str
    quantity: int


class PlanFulfillment(CamelModel):
    location_ref: str
    fulfillment_type: OrderType
    eta_hours: float
    distance_km: float
    transfer_to: str | None = None
    lines: list[PlanLine]


class Plan(CamelModel):
    fulfillments: list[PlanFulfillment]
    unfulfilled_units: int
    splits: int
    cost: float
    eta_hours: float
    rank_reasons: list[str] = Field(default_factory=list)


class Unfulfilled(CamelModel):
    sku_ref: str
    quantity: int
    reason_code: str
    reason: str


class SourcingResult(CamelModel):
    plans: list[Plan]
    unfulfilled: list[Unfulfilled]
    total: int
    available: dict[str, int]
