"""`POST /sessions/{id}/calculate_earliest_pickup_time` over HTTP, with the clock pinned by `at`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.support import ApiClient, eventually

CALC = "/sessions/{}/calculate_earliest_pickup_time"
AMS_HOURS = {d: [["08:00", "12:00"], ["13:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


async def network(api: ApiClient) -> None:
    locations = [
        {
            "ref": "STORE-AMS",
            "type": "STORE",
            "latitude": 52.37,
            "longitude": 4.9,
            "timezone": "Europe/Amsterdam",
            "capabilities": ["CC"],
            "openingHours": {**AMS_HOURS, "closedDates": ["2026-12-25"]},
            "preparationMinutes": {"CLICK_AND_COLLECT": 30},
            "pickupCapacityPerHour": 2,
        },
        {"ref": "STORE-UTR", "type": "STORE", "latitude": 52.09, "longitude": 5.12, "capabilities": ["CC"]},
        {"ref": "WH", "type": "WAREHOUSE", "latitude": 52.0, "longitude": 5.0, "leadTimeHours": 4},
    ]
    await api.ok("PUT", "/locations", {"locations": locations})
    positions = [
        {"locationRef": "STORE-AMS", "skuRef": "SKU-1", "onHand": 5},
        {"locationRef": "STORE-UTR", "skuRef": "SKU-1", "onHand": 3},
        {"locationRef": "WH", "skuRef": "SKU-1", "onHand": 100},
    ]
    await api.ok("PUT", "/inventory", {"positions": positions})


async def pickup_session(api: ApiClient, quantity: int = 2, **context: Any) -> str:
    body = {"locationRef": "STORE-AMS", "items": [{"sku": "SKU-1", "quantity": quantity}], **context}
    created = await api.new_session("CLICK_AND_COLLECT", cart_id="cart-pick", context=body)
    return str(created["id"])


async def test_the_earliest_pickup_counts_preparation_the_queue_and_the_opening_hours(api: ApiClient) -> None:
    await network(api)
    location = await api.ok("GET", "/locations/STORE-AMS")
    assert location["closedDates"] == ["2026-12-25"] and "closedDates" not in location["openingHours"]
    mine = await pickup_session(api)
    ahead = [await pickup_session(api) for _ in range(3)]  # three pickups at STORE-AMS, two an hour
    for action in ("confirm", "pick", "mark_ready"):  # one of them is prepared: it no longer queues
        await api.act(ahead[0], action)
    await api.new_session("WEB_ORDER", cart_id="cart-web", context={"locationRef": "STORE-AMS"})  # no pickup

    async def recorded() -> bool:
        listed = await api.ok("GET", "/sessions?processType=CLICK_AND_COLLECT")
        prepared = await api.ok("GET", "/sessions?status=READY_FOR_PICKUP")
        return bool(listed["total"] == 4 and prepared["total"] == 1)

    await eventually(recorded, what="the sessions in the read model")
    answer = await api.ok("POST", CALC.format(mine), {"at": "2026-12-01T07:00:00+01:00"})
    assert answer["earliestPickupTime"] == "2026-12-01T09:30:00+01:00"  # 60 + 30 min of store time from 8
    assert answer["locationRef"] == "STORE-AMS"
    assert answer["basis"] == {
        "stock": "AVAILABLE",
        "transferFrom": None,
        "leadMinutes": 0,
        "preparationMinutes": 30,
        "queueMinutes": 60,
        "openingWindow": ["2026-12-01T08:00:00+01:00", "2026-12-01T12:00:00+01:00"],
    }
    (utrecht,) = answer["alternatives"]  # WH cannot be picked up at (no CC)
    assert utrecht["locationRef"] == "STORE-UTR"
    assert datetime.fromisoformat(utrecht["earliestPickupTime"]) == datetime.fromisoformat(
        "2026-12-01T06:00:00Z"
    )

    friday = await api.ok("POST", CALC.format(mine), {"at": "2026-12-24T19:45:00+01:00"})
    assert friday["earliestPickupTime"] == "2026-12-28T09:15:00+01:00"  # 15 min, the 25th closed, 75 min


async def test_a_pickup_without_the_stock_there_waits_for_a_transfer_when_the_profile_allows(
    api: ApiClient,
) -> None:
    await network(api)
    sid = await pickup_session(api, quantity=10)
    at = {"at": "2026-12-01T08:00:00+01:00"}
    off = await api.post(CALC.format(sid), at)
    assert off.status == 409 and off.body["errors"][0]["code"] == "NO_STOCK"  # transfers are off
    profile = await api.ok("GET", "/sourcing/profile")
    await api.ok("PUT", "/sourcing/profile", {**profile, "allowTransfers": True})
    answer = await api.ok("POST", CALC.format(sid), at)
    basis = answer["basis"]
    assert (basis["stock"], basis["transferFrom"]) == ("TRANSFER", "WH")
    assert 240 + 40 <= basis["leadMinutes"] <= 240 + 45  # 4 h to dispatch, ~42 km at 60 km/h
    assert answer["earliestPickupTime"] == "2026-12-01T13:30:00+01:00"  # there in the lunch break
    not_here = await api.post(CALC.format(sid), {**at, "locationRef": "WH"})
    assert not_here.status == 409 and not_here.body["errors"][0]["code"] == "NOT_A_PICKUP_LOCATION"
    other = await api.ok(
        "POST",
        CALC.format(sid),
        {
            "at": "2026-12-01T08:00:00+01:00",
            "locationRef": "STORE-UTR",
            "items": [{"sku": "SKU-1", "quantity": 3}],
        },
    )
    assert other["locationRef"] == "STORE-UTR" and other["basis"]["stock"] == "AVAILABLE"


async def test_what_has_no_pickup_time_is_refused_naming_why(api: ApiClient) -> None:
    await network(api)
    web = await api.new_session("WEB_ORDER", cart_id="cart-web")
    reply = await api.post(CALC.format(web["id"]), {})
    assert reply.status == 409 and reply.body["errors"][0]["code"] == "NO_PICKUP"
    sid = await pickup_session(api)
    nothing = await api.post(CALC.format(sid), {"items": [{"sku": "SKU-NONE", "quantity": 1}]})
    assert nothing.status == 409 and nothing.body["errors"][0] == {
        "code": "NO_STOCK",
        "message": "no location has all of SKU-NONE to pick up at STORE-AMS",
        "field": "items",
    }
    missing = await api.post(CALC.format(sid), {"locationRef": "NOWHERE"})
    assert missing.status == 404 and missing.body["errors"][0]["field"] == "locationRef"
    for body, field in (
        ({"at": "2026-12-01T08:00:00"}, "at"),  # no offset: whose 08:00?
        ({"items": [{"sku": "SKU-1", "quantity": 0}]}, "items[0].quantity"),
        ({"items": []}, "items"),
    ):
        bad = await api.post(CALC.format(sid), body)
        assert bad.status == 400 and bad.body["errors"][0]["field"] == field, (body, bad.body)
    bare = await api.new_session("CLICK_AND_COLLECT", cart_id="cart-bare")
    no_place = await api.post(CALC.format(bare["id"]), {})
    assert no_place.status == 400 and no_place.body["errors"][0]["field"] == "locationRef"
    await api.act(sid, "cancel")
    ended = await api.post(CALC.format(sid), {})
    assert ended.status == 409 and ended.body["errors"][0]["code"] == "SESSION_ENDED"
    assert (await api.post(CALC.format("ses_unknown"), {})).status == 404
