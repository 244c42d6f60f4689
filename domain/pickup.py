"""The earliest time a customer can pick an order up at a location (`calculate_earliest_pickup_time`).

The goods arrive after the stock's lead (none when the location has every item; else a transfer
from the location that can send them soonest: its lead time and the trip). Then the location works
off the pickups queued ahead (its open pickup sessions not yet prepared, against its hourly
capacity) and prepares this one: store time, counted only while the location is open, in its own
time zone, across lunch breaks, weekends, closed dates and daylight-saving changes. Pure: the clock,
the stock and the queue are given.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BeforeValidator, Field

from domain.model import CamelModel
from domain.sourcing.model import WEEKDAYS, Location

HORIZON_DAYS = 60  # how far ahead an opening is looked for
ALTERNATIVES = 3


# A time asked about or agreed: written with its offset, in this century (the schema's pattern
# says so; the bounds leave a day for offsets).
def _written(value: object) -> object:
    """A time given as text (or already one); a number of seconds is refused, not read as 1970's."""
    if not isinstance(value, str | datetime):
        raise ValueError("give an ISO 8601 time with its offset, as a string")
    return value


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_written),
    Field(
        ge=datetime(1999, 12, 31, tzinfo=UTC),
        lt=datetime(2100, 1, 2, tzinfo=UTC),
        json_schema_extra={"pattern": r"^20\d\d-"},
    ),
]


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
    at: Moment | None = Field(
        None, description="Compute as of this time (with its offset, years 2000 to 2099); default: now."
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


class Transfer(CamelModel):
    """A location that can send every item to the pickup location, and how long that takes."""

    location_ref: str
    hours: float


def windows(location: Location, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The location's opening windows that end after `after`, in its time zone; a location without
    hours is open all day but on its closed dates."""
    zone = ZoneInfo(location.timezone)
    local = after.astimezone(zone)
    closed = set(location.closed_dates)
    for offset in range(HORIZON_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if day in closed:
            continue
        spans: list[tuple[time, time | None]] = (
            sorted((_hhmm(a), _hhmm(b)) for a, b in location.opening_hours.get(WEEKDAYS[day.weekday()], []))
            if location.opening_hours
            else [(time(0, 0), None)]  # all day: until the next midnight
        )
        for opens, closes in spans:
            start = _at(day, opens, zone)
            end = _at(day, closes, zone) if closes else _at(day + timedelta(days=1), time(0, 0), zone)
            if local < end:
                yield start, end


def is_open(location: Location, at: datetime) -> bool:
    """Whether the location is open to hand an order over at `at`."""
    start, _ = next(windows(location, at), (None, None))
    return start is not None and start <= at


def ready_at(
    location: Location, arrive: datetime, work_minutes: int
) -> tuple[datetime, tuple[datetime, datetime] | None]:
    """When `work_minutes` of store time, starting once the goods are there, are done and the
    location is open to hand the order over, and the opening window that falls in (None for a
    location without hours)."""
    left = timedelta(minutes=work_minutes)
    for start, end in windows(location, arrive):
        begin = max(start, arrive)
        if begin + left < end:  # in the location's time zone, whatever zone `arrive` was given in
            ready = (begin + left).astimezone(ZoneInfo(location.timezone))
            return ready, (start, end) if location.opening_hours else None
        left -= end - begin
    raise NoPickup(
        "NO_OPENING", f"{location.ref} is not open long enough in the next {HORIZON_DAYS} days", "locationRef"
    )


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as an aware time: one in a spring-forward gap comes out past the gap
    (02:30 on that night is 03:30), one repeated in the autumn is its first occurrence."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def needed(items: Sequence[PickupItem]) -> Counter[str]:
    """Units per SKU (the same SKU on several lines adds up)."""
    total: Counter[str] = Counter()
    for i in items:
        total[i.sku] += i.quantity
    return total


def has_all(stock: Mapping[str, int], items: Sequence[PickupItem]) -> bool:
    return all(stock.get(sku, 0) >= quantity for sku, quantity in needed(items).items())


def earliest(
    location: Location,
    process_type: str,
    items: Sequence[PickupItem],
    now: datetime,
    here: Mapping[str, int],  # available stock at the location, by SKU
    transfers: Sequence[Transfer],  # the locations that could send every item instead
    queued: int,
) -> tuple[datetime, Basis]:
    """The earliest pickup at `location` and how it came about; NoPickup when nothing has the items."""
    if has_all(here, items):
        kind, source, lead = "AVAILABLE", None, 0
    elif transfers:
        best = min(transfers, key=lambda t: (t.hours, t.location_ref))
        kind, source, lead = "TRANSFER", best.location_ref, math.ceil(best.hours * 60)
    else:
        skus = ", ".join(sorted(needed(items)))
        raise NoPickup("NO_STOCK", f"no location has all of {skus} to pick up at {location.ref}", "items")
    preparation = location.preparation(process_type)
    capacity = location.pickup_capacity_per_hour
    queue = math.ceil(queued * 60 / capacity) if capacity else 0
    start = now.replace(second=0, microsecond=0) + (
        timedelta(minutes=1) if now.second or now.microsecond else timedelta()
    )
    at, window = ready_at(location, start + timedelta(minutes=lead), preparation + queue)
    basis = Basis(
        stock=kind,
        transfer_from=source,
        lead_minutes=lead,
        preparation_minutes=preparation,
        queue_minutes=queue,
        opening_window=window,
    )
    return at, basis
