"""Orders over HTTP against the dev server: creation rules, locking, modifications, actions, fulfillments."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from storage import orders
from tests.receiver import Receiver
from tests.support import ApiClient, eventually

SEED_ORDER: dict[str, Any] = {
    "consumer": {
        "addresses": [
            {
                "salutation": "Meneer",
                "firstName": "David",
                "lastName": "van den Boomgaard",
                "street": "Rombout Hogerbeetsstraat",
                "houseNumber": "96",
                "postalCode": "1052 XM",
                "province": "Noord-Holland",
                "city": "Amsterdam",
                "country": "NL",
            }
        ],
        "email": "[email protected]",
    },
    "tenantOrderId": "R456728546",
    "orderDate": "2024-01-19T08:45:50.525Z",
    "orderLineItems": [
        {"article": {"tenantArticleId": "TSHIRT-W-2468", "title": "Basic T-Shirt White"}, "quantity": 10},
        {"article": {"tenantArticleId": "JEANS-B-2605", "title": "Washed Slim Fit Jeans"}, "quantity": 3},
        {"article": {"tenantArticleId": "SNEAK-W-4891", "title": "White Sneakers"}, "quantity": 1},
    ],
    "deliveryPreferences": {"shipping": {"serviceLevel": "DELIVERY"}},
}


def seed(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SEED_ORDER), **changes}


async def network(api: ApiClient) -> None:
    """Two warehouses: T-shirts and jeans in one, sneakers (and a few T-shirts) in the other."""
    await api.ok(
        "PUT",
        "/locations",
        {
            "locations": [
                {"ref": "WH-NORTH", "type": "WAREHOUSE", "latitude": 52.4, "longitude": 4.9},
                {"ref": "WH-SOUTH", "type": "WAREHOUSE", "latitude": 51.9, "longitude": 4.5},
            ]
        },
    )
    await api.ok(
        "PUT",
        "/inventory",
        {
            "positions": [
                {"locationRef": "WH-NORTH", "skuRef": "TSHIRT-W-2468", "onHand": 100},
                {"locationRef": "WH-NORTH", "skuRef": "JEANS-B-2605", "onHand": 30},
                {"locationRef": "WH-SOUTH", "skuRef": "SNEAK-W-4891", "onHand": 5},
                {"locationRef": "WH-SOUTH", "skuRef": "TSHIRT-W-2468", "onHand": 2},
            ]
        },
    )


async def no_grace(api: ApiClient) -> None:
    api = api.as_admin  # configuration is the admin side's
    current = await api.ok("GET", "/api/configurations/fulfillable")
    assert current["gracePeriodSeconds"] == 600  # the default
    await api.ok(
        "PUT", "/api/configurations/fulfillable", {"version": current["version"], "gracePeriodSeconds": 0}
    )


async def order_state(api: ApiClient, order_id: str, status: str) -> dict[str, Any]:
    async def reached() -> bool:
        return bool((await api.ok("GET", f"/api/orders/{order_id}"))["status"] == status)

    await eventually(reached, 30, f"order {order_id} to be {status}")
    return dict(await api.ok("GET", f"/api/orders/{order_id}"))


async def test_the_seed_body_is_accepted_verbatim(api: ApiClient) -> None:
    order = await api.ok("POST", "/api/orders", SEED_ORDER)
    for key in ("id", "version", "status", "processId", "created", "lastModified"):
        assert key in order, key
    assert order["status"] == "OPEN" and order["version"] == 1 and order["paymentStatus"] == "PENDING"
    assert [i["quantity"] for i in order["orderLineItems"]] == [10, 3, 1]
    assert all(i["id"] for i in order["orderLineItems"])
    assert order["consumer"]["addresses"][0]["city"] == "Amsterdam"
    assert order["deliveryPreferences"] == SEED_ORDER["deliveryPreferences"]
    assert (await api.ok("GET", f"/api/orders/{order['id']}"))["tenantOrderId"] == "R456728546"
    listed = await api.ok("GET", "/api/orders?tenantOrderId=R456728546")
    assert listed["total"] == 1 and listed["items"][0]["id"] == order["id"]


async def test_duplicate_tenant_order_id_until_cancelled(api: ApiClient) -> None:
    first = await api.ok("POST", "/api/orders", seed(tenantOrderId="DUP-1"))
    again = await api.post("/api/orders", seed(tenantOrderId="DUP-1"))
    assert again.status == 409 and again.body["errors"][0]["field"] == "tenantOrderId"
    await api.ok("POST", f"/api/orders/{first['id']}/actions", {"name": "CANCEL"})
    second = await api.ok("POST", "/api/orders", seed(tenantOrderId="DUP-1"))
    assert second["id"] != first["id"]


async def test_creation_validation(api: ApiClient) -> None:
    nothing = await api.post(
        "/api/orders", seed(orderLineItems=[{"article": {"tenantArticleId": "X"}, "quantity": 0}])
    )
    assert nothing.status == 400 and nothing.body["errors"][0]["field"] == "orderLineItems"
    negative = await api.post(
        "/api/orders", seed(orderLineItems=[{"article": {"tenantArticleId": "X"}, "quantity": -1}])
    )
    assert negative.status == 400 and negative.body["errors"][0]["field"] == "orderLineItems[0].quantity"
    assert (await api.post("/api/orders", seed(tenantOrderId=""))).status == 400


async def test_optimistic_locking_one_of_twenty_wins(api: ApiClient) -> None:
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="LOCK-1"))
    line = order["orderLineItems"][0]["id"]
    replies = await asyncio.gather(
        *[
            api.call(
                "PATCH",
                f"/api/orders/{order['id']}",
                {"version": 1, "orderLineItems": [{"id": line, "quantity": n}]},
            )
            for n in range(1, 21)
        ]
    )
    assert sorted(r.status for r in replies) == [200] + [409] * 19
    assert all(r.body["errors"][0]["code"] == "VERSION_CONFLICT" for r in replies if r.status == 409)
    winner = next(r.body for r in replies if r.status == 200)
    current = await api.ok("GET", f"/api/orders/{order['id']}")
    assert (
        current["version"] == 2
        and current["orderLineItems"][0]["quantity"] == winner["orderLineItems"][0]["quantity"]
    )
    assert len(current["updateDetails"]) == 1


async def test_modifications_trail_and_configuration(api: ApiClient) -> None:
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="MOD-1"))
    line = order["orderLineItems"][1]["id"]
    patched = await api.ok(
        "PATCH",
        f"/api/orders/{order['id']}",
        {
            "version": 1,
            "comment": "customer requested item amount increase",
            "customAttributes": {"attribute1": "value"},
            "preferredHandlingTime": "2024-05-04T13:00:00Z",
            "orderLineItems": [{"id": line, "quantity": 100}],
        },
    )
    assert patched["version"] == 2 and patched["orderLineItems"][1]["quantity"] == 100
    (detail,) = patched["updateDetails"]
    assert detail["comment"] == "customer requested item amount increase" and "user" not in detail
    assert detail["changes"]["orderLineItems"] == [{"id": line, "quantity": 100}]
    assert detail["changes"]["customAttributes"] == {"attribute1": "value"}

    config = await api.ok("GET", "/api/configurations/ordermodification")
    assert config["allowOrderLineItemModification"] is True
    await api.as_admin.ok(
        "PUT",
        "/api/configurations/ordermodification",
        {"version": config["version"], "allowOrderLineItemModification": False, "actorAnonymization": False},
    )
    refused = await api.call(
        "PATCH", f"/api/orders/{order['id']}", {"version": 2, "orderLineItems": [{"id": line, "quantity": 1}]}
    )
    assert refused.status == 422 and refused.body["errors"][0]["code"] == "LINE_ITEM_MODIFICATION_DISABLED"
    named = await api.ok("PATCH", f"/api/orders/{order['id']}", {"version": 2, "customAttributes": {"b": 1}})
    assert named["updateDetails"][1]["user"].startswith("key:")
    bad = await api.call("PATCH", f"/api/orders/{order['id']}", {"version": 3, "consumer": {"email": "x"}})
    assert bad.status == 400 and bad.body["errors"][0]["field"] == "consumer"
    unknown = await api.call(
        "PATCH",
        f"/api/orders/{order['id']}",
        {"version": 3, "orderLineItems": [{"id": "nope", "quantity": 1}]},
    )
    assert unknown.status == 422  # line items are locked by the configuration before ids are looked at


async def test_cash_on_delivery_needs_no_payment(api: ApiClient) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="COD-1", paymentMethod="CASH_ON_DELIVERY"))
    promised = await order_state(api, order["id"], "PROMISED")
    assert promised["paymentStatus"] == "PENDING" and len(promised["fulfillments"]) == 2
    pending = await api.ok("POST", "/api/orders", seed(tenantOrderId="CARD-1", paymentMethod="CARD"))
    assert (await api.ok("GET", f"/api/orders/{pending['id']}"))["status"] == "OPEN"


async def test_fulfillment_rules(api: ApiClient) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="FUL-1", paymentStatus="PAID"))
    promised = await order_state(api, order["id"], "PROMISED")
    north = next(f for f in promised["fulfillments"] if f["locationRef"] == "WH-NORTH")
    fid = north["id"]
    assert (await api.ok("GET", f"/v1/fulfillments/{fid}"))["status"] == "open"
    partial = await api.call(
        "PUT",
        f"/v1/fulfillments/{fid}",
        {
            "status": "in_transit",
            "fulfillmentVariants": [{"variant": "TSHIRT-W-2468", "fulfilledQuantity": 10}],
        },
    )
    assert partial.status == 422 and partial.body["errors"][0]["code"] == "VARIANTS_MISSING"
    too_many = await api.call(
        "PUT",
        f"/v1/fulfillments/{fid}/shipments",
        {
            "carrier": "ups",
            "trackingNumber": "1",
            "shipmentVariants": [{"variant": "JEANS-B-2605", "quantity": 4}],
        },
    )
    assert too_many.status == 422 and too_many.body["errors"][0]["code"] == "TOO_MANY"
    for quantity in ("abc", None, True, 1.5):
        line = {"variant": "JEANS-B-2605", "quantity": quantity}
        bad = await api.call(
            "PUT",
            f"/v1/fulfillments/{fid}/shipments",
            {"carrier": "ups", "trackingNumber": "2", "shipmentVariants": [line]},
        )
        assert bad.status == 422, (quantity, bad.body)
        assert bad.body["errors"][0]["field"] == "shipmentVariants[0].quantity"
    cancel = await api.call("PUT", f"/v1/fulfillments/{fid}", {"status": "cancelled"})
    assert cancel.status == 422 and cancel.body["errors"][0]["code"] == "CANCEL_NOT_SUPPORTED"
    early = await api.call("PUT", f"/v1/fulfillments/{fid}", {"status": "delivered"})
    assert early.status == 422
    assert (await api.get("/v1/fulfillments/nope")).status == 404
    # Customers cannot cancel once fulfillable; the admin side can.
    refused = await api.call("POST", f"/api/orders/{order['id']}/actions", {"name": "CANCEL"})
    assert refused.status == 403


async def test_admin_cancel_after_fulfillable(make_tenant: Callable[..., ApiClient]) -> None:
    admin = make_tenant(["admin"])
    await network(admin)
    await no_grace(admin)
    order = await admin.ok("POST", "/api/orders", seed(tenantOrderId="ADM-1", paymentStatus="PAID"))
    promised = await order_state(admin, order["id"], "PROMISED")
    cancelled = await admin.ok("POST", f"/api/orders/{order['id']}/actions", {"name": "CANCEL"})
    assert cancelled["status"] == "CANCELLED" and {f["status"] for f in cancelled["fulfillments"]} == {
        "cancelled"
    }
    session = promised["fulfillments"][0]["sessionId"]

    async def session_cancelled() -> bool:
        return bool((await admin.ok("GET", f"/sessions/{session}"))["status"] == "CANCELLED")

    await eventually(session_cancelled, 30, "the fulfillment's session to be cancelled")
    events = (await admin.ok("GET", f"/events?subject={order['id']}"))["items"]
    assert events[-1]["type"] == "order.cancelled" and events[-1]["data"]["by"] == "admin"


async def test_whole_life_through_http(api: ApiClient, receiver: Receiver) -> None:
    """Create, pay, fulfillable, routed to two locations, shipped and delivered: every webhook in order."""
    await network(api)
    await no_grace(api)
    hook = await api.ok(
        "POST",
        "/webhooks",
        {"url": receiver.url(f"life-{api.tenant}"), "eventTypes": ["order.*", "fulfillment.*"]},
        201,
    )
    endpoint = receiver.endpoint(f"life-{api.tenant}", hook["secret"])
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="LIFE-1", paymentMethod="CARD"))
    assert (await api.ok("GET", f"/api/orders/{order['id']}"))["status"] == "OPEN"
    await api.ok("POST", f"/api/orders/{order['id']}/actions", {"name": "MARK_PAID"})
    promised = await order_state(api, order["id"], "PROMISED")
    by_location = {f["locationRef"]: f for f in promised["fulfillments"]}
    assert {
        loc: sorted((v["variant"], v["quantity"]) for v in f["variants"]) for loc, f in by_location.items()
    } == {
        "WH-NORTH": [("JEANS-B-2605", 3), ("TSHIRT-W-2468", 10)],
        "WH-SOUTH": [("SNEAK-W-4891", 1)],
    }
    for f in promised["fulfillments"]:
        session = await api.ok("GET", f"/sessions/{f['sessionId']}")
        assert session["processType"] == "WEB_ORDER" and session["cartId"] == order["id"]
        variants = [{"variant": v["variant"], "quantity": v["quantity"]} for v in f["variants"]]
        await api.ok(
            "PUT",
            f"/v1/fulfillments/{f['id']}/shipments",
            {
                "carrier": "ups",
                "carrierReferenceId": "UPS1",
                "trackingNumber": f"T-{f['locationRef']}",
                "trackingUrl": "https://www.ups.com/track",
                "shipmentVariants": variants,
            },
        )
        fulfilled = [{"variant": v["variant"], "fulfilledQuantity": v["quantity"]} for v in f["variants"]]
        moved = await api.ok(
            "PUT", f"/v1/fulfillments/{f['id']}", {"status": "in_transit", "fulfillmentVariants": fulfilled}
        )
        assert (
            moved["status"] == "in_transit"
            and moved["shipments"][0]["trackingNumber"] == f"T-{f['locationRef']}"
        )
    assert (await api.ok("GET", f"/api/orders/{order['id']}"))["status"] == "IN_TRANSIT"
    for f in promised["fulfillments"]:
        await api.ok("PUT", f"/v1/fulfillments/{f['id']}", {"status": "delivered"})
    delivered = await order_state(api, order["id"], "DELIVERED")
    assert {f["status"] for f in delivered["fulfillments"]} == {"delivered"}
    session = await api.ok("GET", f"/sessions/{promised['fulfillments'][0]['sessionId']}")
    assert session["status"] == "DELIVERED"

    expected = ["order.created", "order.paid", "order.fulfillable"] + [
        "fulfillment.shipment_added",
        "fulfillment.in_transit",
    ] * 2
    expected += ["order.in_transit", "fulfillment.delivered", "fulfillment.delivered", "order.delivered"]
    got = await endpoint.wait_for(len(expected))
    assert [d.body["type"] for d in got] == expected
    assert [d.body["sequence"] for d in got] == list(range(1, len(expected) + 1))
    assert all(d.verified_with for d in got)
    fulfillable = got[2].body["data"]
    assert fulfillable["orderNo"] == "LIFE-1"
    assert {f["fulfillmentId"] for f in fulfillable["fulfillments"]} == {
        f["id"] for f in promised["fulfillments"]
    }


async def test_a_modified_promised_order_is_routed_again(api: ApiClient) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="RE-1", paymentStatus="PAID"))
    promised = await order_state(api, order["id"], "PROMISED")
    before = {f["id"] for f in promised["fulfillments"]}
    old_sessions = {f["sessionId"] for f in promised["fulfillments"]}
    sneakers = next(
        i["id"] for i in promised["orderLineItems"] if i["article"]["tenantArticleId"] == "SNEAK-W-4891"
    )
    await api.ok(
        "PATCH",
        f"/api/orders/{order['id']}",
        {"version": promised["version"], "orderLineItems": [{"id": sneakers, "quantity": 0}]},
    )

    async def rerouted() -> bool:
        log = (await api.ok("GET", f"/events?subject={order['id']}&type=order.rerouted"))["items"]
        return bool(log)

    await eventually(rerouted, 30, "the order to be routed again")
    after = await api.ok("GET", f"/api/orders/{order['id']}")
    live = [f for f in after["fulfillments"] if f["status"] != "cancelled"]
    assert [f["locationRef"] for f in live] == ["WH-NORTH"]  # no sneakers left: one location is enough
    assert not before & {f["id"] for f in live}
    assert {f["status"] for f in after["fulfillments"] if f["id"] in before} == {"cancelled"}
    types = [e["type"] for e in (await api.ok("GET", f"/events?subject={order['id']}"))["items"]]
    assert types == ["order.created", "order.fulfillable", "order.modified", "order.rerouted"]
    # The old fulfillments' sessions stay cancelled: re-routing never starts a closed session again.
    assert not old_sessions & {f["sessionId"] for f in live}
    revisions = await api.ok("GET", f"/carts/{order['id']}/revisions")
    for sid in old_sessions:
        assert (await api.ok("GET", f"/sessions/{sid}"))["status"] == "CANCELLED"
        assert [r["action"] for r in revisions if r["sessionId"] == sid].count("create") == 1


async def test_consumer_update_and_partial_fulfillment(api: ApiClient) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="CON-1"))
    updated = await api.ok(
        "POST",
        f"/api/orders/{order['id']}/actions",
        {"name": "UPDATE_CONSUMER", "consumer": {"email": "new@example.com", "addresses": []}},
    )
    assert updated["consumer"]["email"] == "new@example.com" and updated["version"] == 2
    missing = await api.call("POST", f"/api/orders/{order['id']}/actions", {"name": "UPDATE_CONSUMER"})
    assert missing.status == 409
    await api.ok("POST", f"/api/orders/{order['id']}/actions", {"name": "MARK_PAID"})
    promised = await order_state(api, order["id"], "PROMISED")
    south = next(f for f in promised["fulfillments"] if f["locationRef"] == "WH-SOUTH")
    moved = await api.ok(
        "PUT",
        f"/v1/fulfillments/{south['id']}",
        {
            "status": "in_transit",
            "fulfillmentVariants": [{"variant": "SNEAK-W-4891", "fulfilledQuantity": 0}],
        },
    )
    assert moved["variants"] == [{"variant": "SNEAK-W-4891", "quantity": 1, "fulfilledQuantity": 0}]
    assert (await api.ok("GET", f"/v1/fulfillments/{south['id']}"))["variants"][0]["fulfilledQuantity"] == 0


async def test_other_tenants_see_404(api: ApiClient, make_tenant: Callable[..., ApiClient]) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="MINE-1", paymentStatus="PAID"))
    promised = await order_state(api, order["id"], "PROMISED")
    stranger = make_tenant()
    assert (await stranger.get(f"/api/orders/{order['id']}")).status == 404
    assert (await stranger.call("PATCH", f"/api/orders/{order['id']}", {"version": 1})).status == 404
    assert (await stranger.post(f"/api/orders/{order['id']}/actions", {"name": "MARK_PAID"})).status == 404
    fid = promised["fulfillments"][0]["id"]
    assert (await stranger.get(f"/v1/fulfillments/{fid}")).status == 404
    assert (await stranger.call("PUT", f"/v1/fulfillments/{fid}", {"status": "delivered"})).status == 404
    assert (await stranger.ok("GET", "/api/orders"))["total"] == 0
    # The same tenantOrderId is free in another tenant.
    assert (await stranger.ok("POST", "/api/orders", seed(tenantOrderId="MINE-1")))["status"] == "OPEN"


async def test_a_claim_whose_order_never_started_is_taken_over(api: ApiClient, engine: Engine) -> None:
    """An API that died between claiming a tenantOrderId and starting the order must not block it forever."""
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    orders.claim(engine, api.tenant, "ORPHAN-1", "never-started", long_ago)
    taken = await api.ok("POST", "/api/orders", seed(tenantOrderId="ORPHAN-1"))
    assert (await api.ok("GET", f"/api/orders/{taken['id']}"))["tenantOrderId"] == "ORPHAN-1"
    # A recent claim may belong to a request still on its way: it is not taken.
    orders.claim(engine, api.tenant, "ORPHAN-2", "just-claimed", datetime.now(UTC))
    refused = await api.post("/api/orders", seed(tenantOrderId="ORPHAN-2"))
    assert refused.status == 409 and refused.body["errors"][0]["code"] == "TENANT_ORDER_ID_IN_USE"
