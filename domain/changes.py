"""Change proposals on a pickup session (the seed's `propose_change`, `session_changes`,
`accept_change`): a new pickup time, location or items, proposed by an employee or the customer and
accepted or rejected by the other side, or left to expire.

Accepting moves the session's stock: the change first reserves what its new items need at its
location beyond what the session holds there (owner: the change), then the session adopts those
units and releases the rest of its own, in one transaction. Either step failing leaves the session's
reservations as they were.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from domain.model import CamelModel
from domain.pickup import Moment, PickupItem

PROPOSED, ACCEPTED, REJECTED, EXPIRED, FAILED = "PROPOSED", "ACCEPTED", "REJECTED", "EXPIRED", "FAILED"
STATUSES = (PROPOSED, ACCEPTED, REJECTED, EXPIRED, FAILED)


def _given_only(schema: dict[str, Any]) -> None:
    """The schema of a body whose fields are optional but never null, at least one of them given."""
    for prop in schema.get("properties", {}).values():
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop.update(branches[0])
        prop.pop("default", None)
    schema["minProperties"] = 1


class ChangeSet(CamelModel):
    """What the proposal changes; at least one."""

    model_config = CamelModel.model_config | {"json_schema_extra": _given_only}
    pickup_time: Moment | None = Field(
        None, description="The new pickup time, with its offset (years 2000 to 2099)."
    )
    location_ref: str | None = Field(
        None, min_length=1, max_length=100, description="The new pickup location."
    )
    items: list[PickupItem] | None = Field(
        None, min_length=1, max_length=500, description="The session's items as they would be (all of them)."
    )

    @field_validator("pickup_time", "location_ref", "items", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # run only for a field given: one left out is no change
            raise ValueError("null is no value here: leave the field out to keep it as it is")
        return value

    @model_serializer(mode="wrap")
    def _given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The changes made, and no others: never a null (which reading it back refuses)."""
        return {k: v for k, v in handler(self).items() if v is not None}

    @model_validator(mode="after")
    def _something(self) -> ChangeSet:
        if self.pickup_time is None and self.location_ref is None and self.items is None:
            raise ValueError("give pickupTime, locationRef or items (not null)")
        return self


class ProposeChange(CamelModel):
    session_id: str = Field(min_length=1, max_length=100)
    changes: ChangeSet
    reason: str = Field(min_length=1, max_length=2000)
    proposed_by: Literal["employee", "customer"]
    expires_in_seconds: int | None = Field(
        None,
        ge=60,
        le=30 * 24 * 3600,
        strict=True,
        description="Default: FULFILLMENT_CHANGE_EXPIRES_SECONDS.",
    )
    actor: str | None = Field(None, max_length=200, description="Who proposes; the API key when omitted.")


class Decide(CamelModel):
    change_id: str = Field(min_length=1, max_length=100)
    decision: Literal["accept", "reject"]
    comment: str | None = Field(None, max_length=2000)
    actor: str | None = Field(None, max_length=200, description="Who decides; the API key when omitted.")


class HeldStock(CamelModel):
    """Units of one SKU held at one location."""

    location_ref: str
    sku: str
    quantity: int


class ReservationMove(CamelModel):
    release: list[HeldStock] = Field(description="What the session holds now and gives back.")
    reserve: list[HeldStock] = Field(description="What the session would hold.")


class Preview(CamelModel):
    """What accepting would do, as of the proposal."""

    location_ref: str = Field(description="Where the pickup would be.")
    pickup_time: datetime | None = Field(description="The pickup time it would have (null: none set).")
    earliest_pickup_time: datetime = Field(description="The earliest pickup there, for the new items.")
    stock: Literal["AVAILABLE"] = Field(description="The new items are in stock at the location.")
    reservations: ReservationMove | None = Field(
        description="How the session's reservations move; null when neither location nor items change."
    )


class ChangeView(CamelModel):
    id: str
    cart_id: str
    session_id: str
    status: Literal["PROPOSED", "ACCEPTED", "REJECTED", "EXPIRED", "FAILED"]
    changes: ChangeSet
    reason: str
    proposed_by: Literal["employee", "customer"]
    proposer: str = Field(description="The actor who proposed (an API key id unless given).")
    preview: Preview
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    comment: str | None = Field(None, description="The decision's comment.")
    failure: str | None = Field(None, description="Why an accepted change failed (FAILED).")
    failure_code: str | None = None


class ChangeStart(CamelModel):
    tenant: str
    view: ChangeView


class Decision(CamelModel):
    change_id: str
    accept: bool
    comment: str | None = None
    actor: str


class AppliedChange(CamelModel):
    """The Update an accepted change makes on its session: the session's context takes the changes,
    its revision trail an entry, and its reservations become `holds` (None: they stay)."""

    change_id: str
    changes: ChangeSet
    reason: str
    actor: str
    comment: str | None = None
    holds: list[HeldStock] | None = None


class ChangeRecord(CamelModel):
    """What the bookkeeping activity writes: the proposal's row and its event (`change.<status>`)."""

    tenant: str
    view: ChangeView
    sequence: int  # 1: proposed; 2: its end


def event_data(view: ChangeView) -> dict[str, Any]:
    """A change event's data: the proposal, with `sessionId` and `cartId` so the live feed and the
    cart's devices take it."""
    return view.model_dump(mode="json", by_alias=True)


def context_after(context: dict[str, Any], changes: ChangeSet) -> dict[str, Any]:
    """The session's context with the changes in it."""
    updated = dict(context)
    if changes.pickup_time is not None:
        updated["pickupTime"] = changes.pickup_time.isoformat()
    if changes.location_ref is not None:
        updated["locationRef"] = changes.location_ref
    if changes.items is not None:
        updated["items"] = [i.model_dump(mode="json", by_alias=True) for i in changes.items]
    return updated


def targets(location_ref: str, items: list[PickupItem]) -> list[HeldStock]:
    """The holds a session of `items` picked up at `location_ref` has: one per SKU."""
    units: dict[str, int] = {}
    for item in items:
        units[item.sku] = units.get(item.sku, 0) + item.quantity
    return [HeldStock(location_ref=location_ref, sku=sku, quantity=n) for sku, n in sorted(units.items())]
