"""Earliest pickup times, table-driven over the clock: opening hours, lunch, weekends, closed dates,
daylight saving, the queue, and a transfer. Store time (the queue, the preparation) runs only while
the location is open."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from domain.pickup import NoPickup, PickupItem, Transfer, earliest
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
HERE = {"SKU-1": 5}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=AMS)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-01T07:00", "2026-12-01T08:30:00+01:00"),  # Tuesday before opening: prepared from 8
        ("2026-12-01T10:00", "2026-12-01T10:30:00+01:00"),  # open: now plus preparation
        ("2026-12-01T11:45", "2026-12-01T13:15:00+01:00"),  # 15 minutes before lunch, 15 after
        ("2026-12-04T19:45", "2026-12-07T08:15:00+01:00"),  # Friday at closing: done on Monday
        ("2026-12-24T19:50", "2026-12-28T08:20:00+01:00"),  # Thursday late, Friday the 25th closed
        ("2026-10-23T19:45", "2026-10-26T08:15:00+01:00"),  # over the autumn change: the offset moves
        ("2026-03-27T19:45", "2026-03-30T08:15:00+02:00"),  # over the spring change
        ("2026-12-01T09:59:30", "2026-12-01T10:30:00+01:00"),  # a started minute counts whole
    ],
)
def test_store_time_runs_in_the_opening_hours(now: str, expected: str) -> None:
    at, basis = earliest(STORE, "CLICK_AND_COLLECT", ITEMS, local(now), HERE, [], queued=0)
    assert at.isoformat() == expected
    assert (basis.stock, basis.preparation_minutes, basis.queue_minutes) == ("AVAILABLE", 30, 0)
    assert basis.opening_window is not None and basis.opening_window[0] <= at < basis.opening_window[1]


def test_the_queue_counts_against_the_hourly_capacity_and_other_processes_take_the_default() -> None:
    def at(now: str) -> datetime:
        when, basis = earliest(STORE, "WEB_PICKUP", ITEMS, local(now), HERE, [], queued=6)
        assert (basis.preparation_minutes, basis.queue_minutes) == (60, 90)  # 6 ahead at 4 an hour
        return when

    assert at("2026-12-01T08:00") == local("2026-12-01T10:30")  # 150 minutes of store time
    assert at("2026-12-01T10:00") == local("2026-12-01T13:30")  # 120 before lunch, 30 after


def test_a_transfer_takes_the_quickest_source_and_the_same_sku_on_two_lines_adds_up() -> None:
    two_lines = [PickupItem(sku="SKU-1", quantity=3), PickupItem(sku="SKU-1", quantity=3)]
    sources = [Transfer(location_ref="WH", hours=4), Transfer(location_ref="DC", hours=30)]
    at, basis = earliest(STORE, "CLICK_AND_COLLECT", two_lines, local("2026-12-01T08:00"), HERE, sources, 0)
    assert (basis.stock, basis.transfer_from, basis.lead_minutes) == ("TRANSFER", "WH", 240)
    assert at == local("2026-12-01T13:30")  # there at 12:00, the lunch break: prepared from 13:00
    with pytest.raises(NoPickup) as nothing:
        earliest(STORE, "CLICK_AND_COLLECT", two_lines, local("2026-12-01T08:00"), HERE, [], 0)
    assert (nothing.value.code, nothing.value.field) == ("NO_STOCK", "items")  # 6 wanted, 5 here


def test_a_gap_in_the_spring_night_and_a_location_open_only_on_closed_days() -> None:
    night = STORE.model_copy(update={"opening_hours": {"sun": [("02:30", "05:00")]}, "closed_dates": []})
    at, _ = earliest(night, "CLICK_AND_COLLECT", ITEMS, local("2027-03-27T23:00"), HERE, [], 0)
    assert at.isoformat() == "2027-03-28T04:00:00+02:00"  # 02:30 does not exist that night: 03:30
    never = STORE.model_copy(update={"opening_hours": {"mon": []}})
    with pytest.raises(NoPickup) as closed:
        earliest(never, "CLICK_AND_COLLECT", ITEMS, local("2026-12-01T08:00"), HERE, [], 0)
    assert closed.value.code == "NO_OPENING"


def test_a_location_without_hours_is_open_but_on_its_closed_dates() -> None:
    always = STORE.model_copy(update={"opening_hours": {}})
    at, basis = earliest(always, "CLICK_AND_COLLECT", ITEMS, local("2026-12-24T23:50"), HERE, [], 0)
    assert at == local("2026-12-26T00:20") and basis.opening_window is None  # 10 minutes, then 20


def test_a_closed_date_closes_the_location_for_the_sourcing_engine_too() -> None:
    net = Network.build([STORE, WAREHOUSE], [])
    open_on = {day: list(net.open_at(local(day))) for day in ("2026-12-24T10:00", "2026-12-25T10:00")}
    assert open_on == {"2026-12-24T10:00": [True, True], "2026-12-25T10:00": [False, True]}
