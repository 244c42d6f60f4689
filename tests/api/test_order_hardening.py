"""Orders a careless or hostile client cannot break: forged fields, poison inputs,
and orders nothing can be sourced for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from storage import tenants
from tests.api.test_orders import network, no_grace, order_state, seed
from tests.support import ApiClient


@pytest.fixture
def admin(make_tenant: Callable[..., ApiClient]) -> ApiClient:
    """A tenant whose key has every scope (configuration writes need `admin`)."""
    return make_tenant(["admin"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (
            "fulfillments",
            [
                {
                    "id": "f-1",
                    "orderId": "o",
                    "locationRef": "X",
                    "variants": [],
                    "sessionId": "ses_x",
                    "processType": "WEB_ORDER",
                }
            ],
        ),
        ("updateDetails", [{"comment": "forged"}]),
        ("fulfillableAt", "2026-01-01T00:00:00Z"),
        ("status", "DELIVERED"),
        ("version", 7),
        ("unfulfilledItems", []),
    ],
)
async def test_server_owned_fields_are_refused_naming_the_field(
    api: ApiClient, field: str, value: Any
) -> None:
    reply = await api.post("/api/orders", seed(tenantOrderId=f"MA-{field}", **{field: value}))
    assert reply.status == 400, reply.body
    assert reply.body["errors"][0] == {
        "code": "SERVER_OWNED_FIELD",
        "message": f"{field} is set by the service, not the client",
        "field": field,
    }
    assert (await api.get("/v1/fulfillments/f-1")).status == 404


async def test_inputs_routing_could_not_use_are_refused_before_any_workflow(api: ApiClient) -> None:
    await network(api)
    unknown_pickup = seed(tenantOrderId="PI-1", deliveryPreferences={"collect": {"locationRef": "NOWHERE"}})
    reply = await api.post("/api/orders", unknown_pickup)
    assert (
        reply.status == 404 and reply.body["errors"][0]["field"] == "deliveryPreferences.collect.locationRef"
    )
    bad_point = seed(tenantOrderId="PI-2")
    bad_point["consumer"]["addresses"][0]["latitude"] = "fifty-two"
    reply = await api.post("/api/orders", bad_point)
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "consumer.addresses[0].latitude"
    assert (await api.ok("GET", "/api/orders?tenantOrderId=PI-1"))["total"] == 0  # nothing started

    bad_zone = {"ref": "TZ", "type": "STORE", "latitude": 52, "longitude": 5, "timezone": "Mars/Olympus"}
    reply = await api.call("PUT", "/locations", {"locations": [bad_zone]})
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "locations[0].timezone"
    options = {
        "orderType": "CC",
        "locationRef": "WH-NORTH",
        "items": [{"skuRef": "TSHIRT-W-2468", "requestedQuantity": 1}],
        "attributes": [{"name": "handlingTime", "type": "STRING", "value": "next tuesday"}],
    }
    reply = await api.post("/api/v4.1/fulfilmentOptions", options)
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "attributes"


async def test_an_order_nothing_can_be_sourced_for_says_why_and_is_routed_when_stock_arrives(
    admin: ApiClient, make_tenant: Callable[..., ApiClient], engine: Engine
) -> None:
    api = admin
    await network(api)
    await no_grace(api)
    lines = [{"article": {"tenantArticleId": "UMBRELLA"}, "quantity": 2}]
    order = await api.ok(
        "POST", "/api/orders", seed(tenantOrderId="NR-1", paymentStatus="PAID", orderLineItems=lines)
    )
    waiting = await order_state(api, order["id"], "NOT_ROUTABLE")
    assert waiting["fulfillments"] == []
    assert [(u["variant"], u["quantity"]) for u in waiting["unfulfilledItems"]] == [("UMBRELLA", 2)]
    assert waiting["unfulfilledItems"][0]["reasonCode"]
    assert (await api.post("/api/orders", seed(tenantOrderId="NR-1"))).status == 409  # still holds its id

    await api.ok(
        "PUT", "/inventory", {"positions": [{"locationRef": "WH-SOUTH", "skuRef": "UMBRELLA", "onHand": 5}]}
    )
    promised = await order_state(api, order["id"], "PROMISED")
    assert [f["locationRef"] for f in promised["fulfillments"]] == ["WH-SOUTH"]
    assert promised["unfulfilledItems"] == []
    types = [e["type"] for e in (await api.ok("GET", f"/events?subject={order['id']}"))["items"]]
    assert types == ["order.created", "order.not_routable", "order.rerouted"]

    other = await api.ok(
        "POST",
        "/api/orders",
        seed(
            tenantOrderId="NR-2",
            paymentStatus="PAID",
            orderLineItems=[{"article": {"tenantArticleId": "KITE"}, "quantity": 1}],
        ),
    )
    await order_state(api, other["id"], "NOT_ROUTABLE")
    stranger = make_tenant()
    assert (await stranger.post(f"/api/orders/{other['id']}/actions", {"name": "CANCEL"})).status == 404
    customer_key = tenants.issue_key(engine, api.tenant, ["orders:read", "orders:write"])
    customer = ApiClient(api.http, api.base, customer_key, api.tenant)
    await customer.ok("POST", f"/api/orders/{other['id']}/actions", {"name": "CANCEL"})  # not being fulfilled
    assert (await api.post("/api/orders", seed(tenantOrderId="NR-2"))).status == 200  # the id is free again
