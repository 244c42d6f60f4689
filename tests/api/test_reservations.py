"""Stock that routing promises is taken: reservations over HTTP against real Temporal."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.test_orders import network, no_grace, order_state, seed
from tests.support import ApiClient, eventually


async def position(api: ApiClient, location: str, sku: str) -> dict[str, Any]:
    (found,) = await api.ok("GET", f"/inventory?locationRef={location}&skuRef={sku}")
    return dict(found)


async def test_a_routed_order_holds_its_stock_until_it_ships_and_a_cancelled_one_gives_it_back(
    api: ApiClient,
) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="RES-1", paymentStatus="PAID"))
    promised = await order_state(api, order["id"], "PROMISED")
    north = next(f for f in promised["fulfillments"] if f["locationRef"] == "WH-NORTH")
    shirts = await position(api, "WH-NORTH", "TSHIRT-W-2468")
    assert (shirts["onHand"], shirts["reserved"], shirts["reservedByOrders"]) == (100, 10, 10)
    held = await api.ok("GET", "/inventory/WH-NORTH/TSHIRT-W-2468/reservations")
    assert [(r["quantity"], r["ownerKind"], r["ownerId"], r["orderId"]) for r in held] == [
        (10, "fulfillment", north["id"], order["id"])
    ]

    fulfilled = [{"variant": v["variant"], "fulfilledQuantity": v["quantity"] - 1} for v in north["variants"]]
    await api.ok(
        "PUT", f"/v1/fulfillments/{north['id']}", {"status": "in_transit", "fulfillmentVariants": fulfilled}
    )

    async def consumed() -> bool:
        return bool((await position(api, "WH-NORTH", "TSHIRT-W-2468"))["reservedByOrders"] == 0)

    await eventually(consumed, what="the shipped fulfillment's stock consumed")
    shirts = await position(api, "WH-NORTH", "TSHIRT-W-2468")
    assert (shirts["onHand"], shirts["reserved"]) == (91, 0)  # 9 left, the tenth is free again
    assert await api.ok("GET", "/inventory/WH-NORTH/TSHIRT-W-2468/reservations") == []

    other = await api.ok("POST", "/api/orders", seed(tenantOrderId="RES-2", paymentStatus="PAID"))
    await order_state(api, other["id"], "PROMISED")
    assert (await position(api, "WH-NORTH", "JEANS-B-2605"))["reservedByOrders"] == 3
    await api.as_admin.ok("POST", f"/api/orders/{other['id']}/actions", {"name": "CANCEL"})

    async def released() -> bool:
        return bool((await position(api, "WH-NORTH", "JEANS-B-2605"))["reservedByOrders"] == 0)

    await eventually(released, what="the cancelled order's stock released")
    missing = await api.get("/inventory/WH-NOWHERE/TSHIRT-W-2468/reservations")
    assert missing.status == 404 and missing.body["errors"][0]["field"] == "skuRef"


async def test_fifty_concurrent_orders_for_ten_units_never_commit_more_than_ten(api: ApiClient) -> None:
    await api.ok(
        "PUT",
        "/locations",
        {"locations": [{"ref": "WH-ONE", "type": "WAREHOUSE", "latitude": 52.4, "longitude": 4.9}]},
    )
    await api.ok(
        "PUT", "/inventory", {"positions": [{"locationRef": "WH-ONE", "skuRef": "LAST", "onHand": 10}]}
    )
    await no_grace(api)
    line = [{"article": {"tenantArticleId": "LAST", "title": "The last ones"}, "quantity": 1}]
    placed = await asyncio.gather(
        *(
            api.ok(
                "POST",
                "/api/orders",
                seed(tenantOrderId=f"RUSH-{n}", paymentStatus="PAID", orderLineItems=line),
            )
            for n in range(50)
        )
    )
    states: dict[str, str] = {}

    async def all_decided() -> bool:
        for o in placed:
            if states.get(o["id"]) not in ("PROMISED", "NOT_ROUTABLE"):
                states[o["id"]] = (await api.ok("GET", f"/api/orders/{o['id']}"))["status"]
        return all(s in ("PROMISED", "NOT_ROUTABLE") for s in states.values()) and len(states) == 50

    await eventually(all_decided, within=120, what="every order routed or not routable")
    assert sorted(states.values()).count("PROMISED") == 10
    last = await position(api, "WH-ONE", "LAST")
    assert (last["reservedByOrders"], len(await api.ok("GET", "/inventory/WH-ONE/LAST/reservations"))) == (
        10,
        10,
    )
    refused = next(o for o in placed if states[o["id"]] == "NOT_ROUTABLE")
    unfulfilled = (await api.ok("GET", f"/api/orders/{refused['id']}"))["unfulfilledItems"]
    assert unfulfilled and unfulfilled[0]["variant"] == "LAST"


async def test_each_routed_fulfillment_counts_against_its_locations_daily_capacity(api: ApiClient) -> None:
    await network(api)
    await no_grace(api)
    north = await api.ok("GET", "/locations/WH-NORTH")
    await api.ok("PUT", "/locations", {"locations": [{**north, "dailyCapacity": 1}]})
    first = await api.ok("POST", "/api/orders", seed(tenantOrderId="CAP-1", paymentStatus="PAID"))
    await order_state(api, first["id"], "PROMISED")
    assert (await api.ok("GET", "/locations/WH-NORTH"))["capacityUsed"] == 1
    assert (await api.ok("GET", "/locations/WH-SOUTH"))["capacityUsed"] == 1

    second = await api.ok("POST", "/api/orders", seed(tenantOrderId="CAP-2", paymentStatus="PAID"))

    async def routed() -> bool:
        status = (await api.ok("GET", f"/api/orders/{second['id']}"))["status"]
        return bool(status in ("PROMISED", "NOT_ROUTABLE"))

    await eventually(routed, what="the second order routed")
    again = await api.ok("GET", f"/api/orders/{second['id']}")
    assert "WH-NORTH" not in [f["locationRef"] for f in again.get("fulfillments", [])]  # full for the day
    assert (await api.ok("GET", "/locations/WH-NORTH"))["capacityUsed"] == 1

    await api.as_admin.ok("POST", f"/api/orders/{first['id']}/actions", {"name": "CANCEL"})

    async def freed() -> bool:
        return bool((await api.ok("GET", "/locations/WH-NORTH"))["capacityUsed"] == 0)

    await eventually(freed, what="the cancelled order's fulfillment off the capacity")
    # A PUT gives the day's figure anew.
    await api.ok("PUT", "/locations", {"locations": [{**north, "dailyCapacity": 1, "capacityUsed": 1}]})
    assert (await api.ok("GET", "/locations/WH-NORTH"))["capacityUsed"] == 1
