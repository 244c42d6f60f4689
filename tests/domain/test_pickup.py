"""Earliest pickup times, table-driven over the clock: opening hours, lunch, weekends, closed dates,
daylight saving, the queue, and a transfer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.pickup import NoPickup, PickupItem, earliest
from domain.sourcing.model import Location
from domain.sourcing.network import Network

AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAY = [["08:00", "12:00"], ["13:00", "20:00"]]
STORE = Location.model_validate(
    {
        "ref": "STORE-AMS",
        "type": "STORE",
        "latitude": 52.37,
        "longitude": 4.9,
        "timezone": "Europe/Amsterdam",
        "openingHours": {d: WEEKDAY for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"closedDates": ["2026-12-25"]},
        "preparationMinutes": {"CLICK_AND_COLLECT": 30, "*": 60},
        "pickupCapacityPerHour": 4,
        "leadTimeHours": 2,
    }
)
WAREHOUSE = Location.model_validate(
    {"ref": "WH", "type": "WAREHOUSE", "latitude": 52.0, "longitude": 5.0, "leadTimeHours": 4}
)
ITEMS = [PickupItem(sku="SKU-1", quantity=2)]
IN_STORE = {"STORE-AMS": {"SKU-1": 5}, "WH": {"SKU-1": 100}}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=AMS)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-01T07:00", "2026-12-01T08:00:00+01:00"),  # Tuesday before opening: at opening
        ("2026-12-01T10:00", "2026-12-01T10:30:00+01:00"),  # open: now plus preparation
        ("2026-12-01T11:45", "2026-12-01T13:00:00+01:00"),  # ready at 12:15, in the lunch break
        ("2026-12-04T19:45", "2026-12-07T08:00:00+01:00"),  # Friday after closing: Monday
        ("2026-12-24T19:50", "2026-12-28T08:00:00+01:00"),  # Thursday late, Friday the 25th closed
        ("2026-10-23T19:45", "2026-10-26T08:00:00+01:00"),  # over the autumn change: the offset moves
        ("2026-03-27T19:45", "2026-03-30T08:00:00+02:00"),  # over the spring change
    ],
)
def test_the_ready_time_moves_to_the_next_opening(now: str, expected: str) -> None:
    at, basis = earliest(STORE, "CLICK_AND_COLLECT", ITEMS, local(now), IN_STORE, [WAREHOUSE], queued=0)
    assert at.isoformat() == expected
    assert (basis.stock, basis.preparation_minutes, basis.queue_minutes) == ("AVAILABLE", 30, 0)
    assert basis.opening_window is not None and basis.opening_window[0] <= at < basis.opening_window[1]


def test_the_queue_counts_against_the_hourly_capacity_and_other_processes_take_the_default() -> None:
    def at(now: str) -> datetime:
        when, basis = earliest(STORE, "WEB_PICKUP", ITEMS, local(now), IN_STORE, [WAREHOUSE], queued=6)
        assert (basis.preparation_minutes, basis.queue_minutes) == (60, 90)  # 6 ahead at 4 an hour
        return when

    assert at("2026-12-01T08:00") == local("2026-12-01T10:30")
    assert at("2026-12-01T10:00") == local("2026-12-01T13:00")  # ready 12:30, in the lunch break


def test_a_transfer_from_the_location_that_has_the_stock_adds_its_lead_time() -> None:
    stock = {"STORE-AMS": {"SKU-1": 1}, "WH": {"SKU-1": 100}}
    at, basis = earliest(
        STORE, "CLICK_AND_COLLECT", ITEMS, local("2026-12-01T08:00"), stock, [STORE, WAREHOUSE], 0
    )
    assert (basis.stock, basis.transfer_from, basis.lead_minutes) == ("TRANSFER", "WH", 240)
    assert at == local("2026-12-01T13:00")  # 08:00 + 4 h + 30 min = 12:30, the lunch break


def test_no_stock_anywhere_and_a_gap_in_the_spring_night() -> None:
    with pytest.raises(NoPickup) as nothing:
        earliest(STORE, "CLICK_AND_COLLECT", ITEMS, local("2026-12-01T08:00"), {}, [WAREHOUSE], 0)
    assert (nothing.value.code, nothing.value.field) == ("NO_STOCK", "items")
    night = STORE.model_copy(update={"opening_hours": {"sun": [("02:30", "05:00")]}, "closed_dates": []})
    at, _ = earliest(night, "CLICK_AND_COLLECT", ITEMS, local("2027-03-27T23:00"), IN_STORE, [], 0)
    assert at.isoformat() == "2027-03-28T03:30:00+02:00"  # 02:30 does not exist that night


def test_a_location_without_hours_is_open_but_on_its_closed_dates() -> None:
    always = STORE.model_copy(update={"opening_hours": {}})
    at, basis = earliest(always, "CLICK_AND_COLLECT", ITEMS, local("2026-12-24T23:50"), IN_STORE, [], 0)
    assert at == local("2026-12-26T00:00") and basis.opening_window is None


def test_a_closed_date_closes_the_location_for_the_sourcing_engine_too() -> None:
    net = Network.build([STORE, WAREHOUSE], [])
    open_on = {day: list(net.open_at(local(day))) for day in ("2026-12-24T10:00", "2026-12-25T10:00")}
    assert open_on == {"2026-12-24T10:00": [True, True], "2026-12-25T10:00": [False, True]}
