"""The Fulfilment Options API's request and answer (Fluent's shape) around the sourcing engine, and the
versioned engine configurations a request's flexType and flexVersion name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, Field, field_validator

from domain import ids
from domain.errors import DomainError, NotFound
from domain.model import MAX_INT, CamelModel
from domain.sourcing import exact
from domain.sourcing.engine import source
from domain.sourcing.eta import format_hours
from domain.sourcing.model import Line, Plan, SourcingProfile, SourcingRequest, SourcingResult
from domain.sourcing.network import Network
from domain.sourcing.search import Candidate, Problem

FLEX_TYPE = "FULFILMENT_OPTIONS::DEFAULT"
STATUS_PROVIDED = "OPTIONS_PROVIDED"
SELECTED, CONFIRMED, CANCELLED, EXPIRED = (
    "OPTIONS_SELECTED",
    "OPTIONS_CONFIRMED",
    "OPTIONS_CANCELLED",
    "OPTIONS_EXPIRED",
)
# Where a client may move options (`PUT …/state/{name}`, with or without the `OPTIONS_` prefix); a
# selection that is not confirmed in time expires by itself.
MOVES = {STATUS_PROVIDED: (SELECTED, CANCELLED), SELECTED: (CONFIRMED, CANCELLED)}
STATES = (STATUS_PROVIDED, SELECTED, CONFIRMED, CANCELLED, EXPIRED)


class Engine(Protocol):
    """What a configuration runs: `domain.sourcing.engine.source`, or another engine of its signature."""

    def __call__(
        self,
        net: Network,
        request: SourcingRequest,
        profile: SourcingProfile,
        *,
        exact: Callable[[Problem, Candidate], Candidate] | None = None,
    ) -> SourcingResult: ...


@dataclass(frozen=True)
class Flex:
    """One versioned engine configuration: the engine and how its plans are labelled. A change in what
    a request's options would be is a new version, and the old one stays for requests that name it, so
    an answer's flexType and flexVersion say how it was computed."""

    flex_type: str
    version: int
    plan_type: str  # the flexType its plans carry
    engine: Engine


FLEX: dict[tuple[str, int], Flex] = {
    (f.flex_type, f.version): f for f in (Flex(FLEX_TYPE, 1, "FULFILMENT_PLAN::DEFAULT", source),)
}
LATEST = {t: max(v for u, v in FLEX if u == t) for t, _ in FLEX}  # what a request naming no version gets


@dataclass(frozen=True)
class Snapshot:
    """A tenant's network at one network version: what a request is checked against and sourced on."""

    version: int
    network: Network
    profile: SourcingProfile
    coordinates: dict[str, tuple[float, float]]  # location ref -> (latitude, longitude) in degrees


class Attribute(CamelModel):
    model_config = CamelModel.model_config | {"extra": "allow"}
    name: str
    type: Literal["STRING", "TEXT", "INTEGER", "BOOLEAN", "ADDRESS", "OBJECT", "CUSTOM"] = "STRING"
    value: Any = None


class Address(CamelModel):
    model_config = CamelModel.model_config | {"extra": "allow"}
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    postcode: str | None = None
    state: str | None = None
    country: str | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class Item(CamelModel):
    model_config = CamelModel.model_config | {"extra": "allow"}
    sku_ref: str = Field(min_length=1, max_length=100)
    requested_quantity: int = Field(ge=1, le=100_000)
    available_quantity: int | None = Field(None, ge=0, le=MAX_INT)


_REF: dict[str, Any] = {"properties": {"locationRef": {"type": "string"}}, "required": ["locationRef"]}
_POINT: dict[str, Any] = {
    "properties": {
        "address": {
            "type": "object",
            "properties": {"latitude": {"type": "number"}, "longitude": {"type": "number"}},
            "required": ["latitude", "longitude"],
        }
    },
    "required": ["address"],
}


class OptionsRequest(CamelModel):
    """Accepted as the seed sends it; unknown fields are kept, not refused. Click & collect names its
    pickup (`locationRef`); home delivery gives coordinates or a `locationRef` to measure from."""

    model_config = CamelModel.model_config | ConfigDict(
        extra="allow",
        json_schema_extra={
            "if": {"properties": {"orderType": {"const": "CC"}}},
            "then": _REF,
            "else": {"anyOf": [_REF, _POINT]},
        },
    )
    limit: int = Field(10, ge=1, le=100)
    order_type: Literal["HD", "CC"]
    location_ref: str | None = None
    tracking_id: str | None = None
    retailer_id: int | str | None = None
    status: str | None = None
    address: Address | None = None
    items: list[Item] = Field(min_length=1, max_length=500)
    attributes: list[Attribute] = Field(default_factory=list)
    flex_type: str = Field(
        FLEX_TYPE,
        max_length=100,
        description="The engine configuration.",
        json_schema_extra={"enum": [*LATEST]},
    )
    flex_version: int | None = Field(
        None, ge=1, le=MAX_INT, description="Its version; the latest when absent."
    )

    @field_validator("attributes")
    @classmethod
    def _handling_time(cls, attributes: list[Attribute]) -> list[Attribute]:
        for a in attributes:
            if a.name == "handlingTime" and a.value is not None:
                try:
                    _instant(a.value)
                except (TypeError, ValueError):
                    raise ValueError("the handlingTime attribute must be an ISO 8601 date-time") from None
        return attributes

    def handling_time(self) -> datetime | None:
        for a in self.attributes:
            if a.name == "handlingTime" and a.value is not None:
                return _instant(a.value)
        return None

    def sourcing(self, latitude: float | None, longitude: float | None) -> SourcingRequest:
        return SourcingRequest(
            order_type=self.order_type,
            lines=[Line(sku_ref=i.sku_ref, quantity=i.requested_quantity) for i in self.items],
            latitude=latitude,
            longitude=longitude,
            pickup_ref=self.location_ref if self.order_type == "CC" else None,
            limit=self.limit,
            handling_time=self.handling_time(),
        )


def _instant(value: object) -> datetime:
    """An ISO 8601 date-time; one without a zone is taken as UTC."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compute(
    snapshot: Snapshot, request: OptionsRequest, options_id: str, created_on: datetime, solve: bool = False
) -> dict[str, Any]:
    """The options for a request, in the seed's shape, computed on `snapshot`; with `solve`, the exact
    MILP's plan leads when it beats the heuristic's. What cannot be sourced is refused naming its field."""
    flex = configuration(request)
    _check(request, snapshot.network)
    exceptions: list[dict[str, Any]] = []
    latitude = request.address.latitude if request.address else None
    longitude = request.address.longitude if request.address else None
    if request.order_type == "HD" and (latitude is None or longitude is None):
        # No coordinates: measure from the request's location, and say so on every plan.
        ref = str(request.location_ref)
        latitude, longitude = snapshot.coordinates[ref]
        exceptions.append(
            {"code": "NO_COORDINATES", "message": f"distances measured from {ref}", "attributes": []}
        )
    result = flex.engine(
        snapshot.network,
        request.sourcing(latitude, longitude),
        snapshot.profile,
        exact=exact.solve if solve else None,
    )
    return answer(options_id, request, flex, result, created_on, exceptions)


def configuration(request: OptionsRequest) -> Flex:
    """The engine configuration the request names: its flexType at its flexVersion (default: latest)."""
    latest = LATEST.get(request.flex_type)
    if latest is None:
        message = f"no flexType {request.flex_type!r}; known: {', '.join(LATEST)}"
        raise DomainError.one("UNKNOWN_FLEX_TYPE", message, "flexType")
    flex = FLEX.get((request.flex_type, request.flex_version or latest))
    if flex is None:
        message = f"{request.flex_type} has no flexVersion {request.flex_version} (latest: {latest})"
        raise DomainError.one("UNKNOWN_FLEX_VERSION", message, "flexVersion")
    return flex


def _check(request: OptionsRequest, network: Network) -> None:
    """Refuse what cannot be sourced on this network."""
    ref = request.location_ref
    address = request.address
    has_point = address is not None and None not in (address.latitude, address.longitude)
    if request.order_type == "CC" and ref is None:
        message = "click & collect needs the pickup's locationRef"
        raise DomainError.one("LOCATION_REQUIRED", message, "locationRef")
    if request.order_type == "HD" and not has_point and ref is None:
        message = (
            "home delivery needs address.latitude and address.longitude, or a locationRef to measure from"
        )
        raise DomainError.one("ADDRESS_COORDINATES_REQUIRED", message, "address.latitude")
    needed = request.order_type == "CC" or not has_point
    if needed and ref is not None and ref not in network.index:  # well-formed, but no such location
        raise NotFound.one("UNKNOWN_LOCATION", f"no location {ref!r}", "locationRef")


def answer(
    options_id: str,
    request: OptionsRequest,
    flex: Flex,
    result: SourcingResult,
    created_on: datetime,
    exceptions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The options in the seed's response shape."""
    body = request.model_dump(mode="json", exclude_none=False)
    items = [{**i, "availableQuantity": result.available.get(i["skuRef"], 0)} for i in body["items"]]
    plans = [
        _plan(options_id, request, flex, plan, n, created_on, exceptions)
        for n, plan in enumerate(result.plans)
    ]
    return {
        **body,
        "id": options_id,
        "ref": options_id,
        "entityType": "FULFILMENT_OPTIONS",
        "type": request.order_type,
        "status": STATUS_PROVIDED,
        "count": len(plans),
        "total": result.total,
        "items": items,
        "plans": plans,
        "unfulfilledItems": [
            {
                "skuRef": u.sku_ref,
                "unavailableQty": u.quantity,
                "reasonCode": u.reason_code,
                "reason": u.reason,
            }
            for u in result.unfulfilled
        ],
        "flexType": flex.flex_type,
        "flexVersion": flex.version,
        "createdOn": created_on.isoformat(),
    }


def _plan(
    options_id: str,
    request: OptionsRequest,
    flex: Flex,
    plan: Plan,
    n: int,
    created_on: datetime,
    exceptions: list[dict[str, Any]],
) -> dict[str, Any]:
    plan_id = ids.plan_id(options_id, n)
    return {
        "id": plan_id,
        "planId": plan_id,
        "ref": plan_id,
        "entityType": "FULFILMENT_PLAN",
        "type": request.order_type,
        "planType": request.order_type,
        "eta": format_hours(plan.eta_hours),
        "splits": plan.splits,
        "fulfilments": [
            {
                "fulfilmentType": f.fulfillment_type,
                "locationRef": f.location_ref,
                "eta": format_hours(f.eta_hours),
                "items": [{"skuRef": line.sku_ref, "availableQty": line.quantity} for line in f.lines],
                **({"transferTo": f.transfer_to} if f.transfer_to else {}),
            }
            for f in plan.fulfillments
        ],
        "exceptions": exceptions,
        "attributes": [
            {"name": "cost", "type": "STRING", "value": f"{plan.cost:.2f}"},
            {
                "name": "distanceKm",
                "type": "STRING",
                "value": f"{max((f.distance_km for f in plan.fulfillments), default=0):.1f}",
            },
            {"name": "splits", "type": "INTEGER", "value": plan.splits},
            {"name": "unfulfilledUnits", "type": "INTEGER", "value": plan.unfulfilled_units},
            {"name": "rankReasons", "type": "OBJECT", "value": plan.rank_reasons},
        ],
        "status": "COMPLETE" if plan.unfulfilled_units == 0 else "PARTIAL",
        "fulfilmentOptionsId": options_id,
        "retailerId": request.retailer_id,
        "flexType": flex.plan_type,
        "flexVersion": flex.version,
        "createdOn": created_on.isoformat(),
    }
