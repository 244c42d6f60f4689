"""The earliest time a customer can pick an order up at a location (`calculate_earliest_pickup_time`).

Ready = now + the stock's lead (none when the location has every item; else the lead time of the
nearest-in-time location that has them all, a transfer) + the location's preparation time for the
process + the queue (open pickups ahead of this one against the location's hourly capacity). A
ready time outside the opening hours moves to the next opening, in the location's own time zone:
across lunch breaks, weekends, closed dates and daylight-saving changes. Pure: the clock is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field

from domain.model import CamelModel
from domain.sourcing.model import WEEKDAYS, Location

HORIZON_DAYS = 60  # how far ahead an opening is looked for
ALTERNATIVES = 3


class PickupItem(CamelModel):
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(gt=0, le=1_000_000, strict=True)


class PickupRequest(CamelModel):
    location_ref: str | None = Field(
        None, min_length=1, max_length=100, description="Default: the session's `context.locationRef`."
    )
    items: list[PickupItem] | None = Field(
        None, min_length=1, max_length=500, description="Default: the session's `context.items`."
    )
    at: AwareDatetime | None = Field(
        None, description="Compute as of this time (with its offset); default: now."
    )


class Basis(CamelModel):
    stock: Literal["AVAILABLE", "TRANSFER"]
    transfer_from: str | None = None
    lead_minutes: int
    preparation_minutes: int
    queue_minutes: int
    opening_window: tuple[datetime, datetime] | None = Field(
        description="The opening [from, to) the pickup falls in; null when the location is always open."
    )


class Alternative(CamelModel):
    location_ref: str
    earliest_pickup_time: datetime


class EarliestPickup(CamelModel):
    earliest_pickup_time: datetime
    location_ref: str
    basis: Basis
    alternatives: list[Alternative]


class NoPickup(Exception):
    """Why no pickup time can be given (no stock anywhere, no opening ahead)."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code, self.field = code, field


def next_opening(location: Location, ready: datetime) -> tuple[datetime, tuple[datetime, datetime] | None]:
    """The first moment at or after `ready` the location is open, and the window it falls in (None
    for a location with no hours: always open, but for its closed dates)."""
    zone = ZoneInfo(location.timezone)
    local = ready.astimezone(zone)
    closed = set(location.closed_dates)
    for offset in range(HORIZON_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if day in closed:
            continue
        if not location.opening_hours:
            start = local if offset == 0 else _at(day, time(0, 0), zone)
            return start, None
        for opens, closes in sorted(location.opening_hours.get(WEEKDAYS[day.weekday()], [])):
            window = (_at(day, _hhmm(opens), zone), _at(day, _hhmm(closes), zone))
            if local < window[1]:
                return max(local, window[0]), window
    raise NoPickup("NO_OPENING", f"{location.ref} opens on no day in the next {HORIZON_DAYS}", "locationRef")


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as an aware time: one in a spring-forward gap comes out past the gap
    (02:30 on that night is 03:30), one repeated in the autumn is its first occurrence."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def has_all(stock: Mapping[str, int], items: Sequence[PickupItem]) -> bool:
    return all(stock.get(i.sku, 0) >= i.quantity for i in items)


def earliest(
    location: Location,
    process_type: str,
    items: Sequence[PickupItem],
    now: datetime,
    stock: Mapping[str, Mapping[str, int]],  # location -> sku -> available
    others: Sequence[Location],
    queued: int,
) -> tuple[datetime, Basis]:
    """The earliest pickup at `location` and how it came about; NoPickup when nothing has the items."""
    if has_all(stock.get(location.ref, {}), items):
        kind, source, lead = "AVAILABLE", None, 0
    else:
        sources = [o for o in others if o.ref != location.ref and has_all(stock.get(o.ref, {}), items)]
        if not sources:
            skus = ", ".join(i.sku for i in items)
            raise NoPickup("NO_STOCK", f"no location has all of {skus} to pick up at {location.ref}", "items")
        best = min(sources, key=lambda o: (o.lead_time_hours, o.ref))
        kind, source, lead = "TRANSFER", best.ref, round(best.lead_time_hours * 60)
    preparation = location.preparation(process_type)
    capacity = location.pickup_capacity_per_hour
    queue = math.ceil(queued * 60 / capacity) if capacity else 0
    ready = now + timedelta(minutes=lead + preparation + queue)
    at, window = next_opening(location, ready)
    basis = Basis(
        stock=kind,
        transfer_from=source,
        lead_minutes=lead,
        preparation_minutes=preparation,
        queue_minutes=queue,
        opening_window=window,
    )
    return at, basis
