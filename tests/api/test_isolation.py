"""Tenant isolation, generated from the route table: for every operation with an id in its path, another
tenant's key (with every scope) on this tenant's resource answers 404, for reads and writes alike.

The operations come from the API's own OpenAPI schema, so a new route is tested the day it is added;
one whose id this test cannot fill in, or whose body it does not know, fails here until it is added.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from domain.examples import gift_wrap
from domain.ids import new_change_id
from storage import changes, live_feed
from storage.tables import LiveFeedSubscriptionRow
from tests.api.test_orders import network, order_state, seed
from tests.end_to_end.test_outbound import outbound_order
from tests.push_fakes import PushFakes
from tests.support import ApiClient
from tests.workflows.test_change_workflow import proposal

# What a write sends, so that the request passes validation and reaches the lookup of the id.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/sessions/{session_id}/actions"): {"action": "confirm"},
    ("POST", "/sessions/{session_id}/calculate_earliest_pickup_time"): {},
    ("PATCH", "/webhooks/{webhook_id}"): {"description": "taken over"},
    ("PATCH", "/connectors/{connector_id}"): {"name": "taken-over"},
    ("POST", "/webhooks/{webhook_id}/recover"): {"since": "2026-11-01T00:00:00Z"},
    ("PUT", "/api/v4.1/fulfilmentOptions/state/{stateName}"): "options",  # the body names the id
    ("POST", "/carts/{cart_id}/propose_change"): "propose",  # the body names the session
    ("POST", "/carts/{cart_id}/accept_change"): "decide",  # the body names the change
    ("PATCH", "/api/orders/{order_id}"): {"version": 1, "comment": "taken over"},
    ("POST", "/api/orders/{order_id}/actions"): {"name": "MARK_PAID"},
    ("PUT", "/v1/fulfillments/{fulfillment_id}"): {
        "status": "in_transit",
        "fulfillmentVariants": [{"variant": "TSHIRT-W-2468", "fulfilledQuantity": 1}],
    },
    ("PUT", "/v3/fulfillment/outbound/{outbound_id}/shipment"): {
        "carrier": "iso-carrier",
        "trackingNumber": "T-1",
    },
    ("PUT", "/v1/fulfillments/{fulfillment_id}/shipments"): {
        "carrier": "DHL",
        "trackingNumber": "T-1",
        "shipmentVariants": [{"variant": "TSHIRT-W-2468", "quantity": 1}],
    },
}
# Ids that are names within a tenant, not resources: another tenant sees its own (empty) view.
SCOPED_NAMES = {"cart_id"}


async def test_another_tenant_gets_404_on_every_operation_with_an_id(
    make_tenant: Callable[..., ApiClient], engine: Engine, push_fakes: PushFakes
) -> None:
    owner = make_tenant(["admin"])
    ids = await _resources(owner, engine, push_fakes)
    stranger = make_tenant(["admin"])
    spec = await owner.ok("GET", "/openapi.json")
    checked = 0
    for path, operations in spec["paths"].items():
        if "{" not in path:
            continue
        for method, operation in operations.items():
            if not operation.get("security"):
                continue  # a partner's signed event: the connector's secret is the credential (tested apart)
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            missing = [n for n in names if n not in ids]
            assert not missing, f"{method.upper()} {path}: give the test a resource for {missing}"
            url = path
            for name in names:
                url = url.replace("{" + name + "}", ids[name])
            body = None
            if "requestBody" in operation:
                key = (method.upper(), path)
                assert key in BODIES, f"{method.upper()} {path}: give the test a valid body"
                body = _body(BODIES[key], ids)
            reply = await stranger.call(method.upper(), url, body)
            if set(names) & SCOPED_NAMES and method == "get":
                assert reply.status == 200 and reply.body == [], (method, url, reply.status, reply.body)
            else:
                assert reply.status == 404, (method.upper(), url, reply.status, reply.body)
            checked += 1
    assert checked >= 27
    # Nothing the stranger did touched the owner's resources.
    assert (await owner.ok("GET", f"/webhooks/{ids['webhook_id']}"))["description"] == ""
    assert (await owner.ok("GET", f"/api/orders/{ids['order_id']}"))["version"] == 1
    assert (await owner.ok("GET", f"/sessions/{ids['session_id']}"))["status"] == "CREATED"


def _body(given: Any, ids: dict[str, str]) -> Any:
    """A body as BODIES gives it, or built around the owner's resource it names."""
    if given == "options":
        return {"id": ids["options_id"]}
    if given == "propose":
        changes = {"locationRef": "WH-NORTH"}
        return {"sessionId": ids["session_id"], "changes": changes, "reason": "r", "proposedBy": "customer"}
    if given == "decide":
        return {"changeId": ids["change_id"], "decision": "accept"}
    return given


async def _resources(api: ApiClient, engine: Engine, push_fakes: PushFakes) -> dict[str, str]:
    """One of each resource that has an id, owned by `api`'s tenant."""
    await network(api)
    current = await api.ok("GET", "/api/configurations/fulfillable")
    await api.ok(
        "PUT", "/api/configurations/fulfillable", {"version": current["version"], "gracePeriodSeconds": 0}
    )
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="ISO-1", paymentStatus="PAID"))
    promised = await order_state(api, order["id"], "PROMISED")
    pending = await api.ok("POST", "/api/orders", seed(tenantOrderId="ISO-2"))  # still version 1
    session = await api.new_session(cart_id="iso-cart")
    hook = await api.ok("POST", "/webhooks", {"url": "http://127.0.0.1:9/iso"}, 201)
    process = await api.ok("POST", "/processes", gift_wrap(type="ISO_WRAP"), 201)
    options = await api.ok(
        "POST",
        "/api/v4.1/fulfilmentOptions",
        {
            "orderType": "CC",
            "locationRef": "WH-NORTH",
            "items": [{"skuRef": "TSHIRT-W-2468", "requestedQuantity": 1}],
        },
    )
    app = await api.ok(
        "POST",
        "/applications",
        {"platform": "webpush", "name": "iso", "credentials": {"subject": "mailto:o@x.io"}},
        201,
    )
    device = await api.ok(
        "POST",
        "/device_tokens",
        {"applicationId": app["id"], "subscription": push_fakes.subscription("iso"), "cartIds": ["iso-cart"]},
        201,
    )
    key = await api.ok("POST", "/api_keys", {"label": "iso", "scopes": ["sessions:read"]}, 201)
    connector = await api.ok(
        "POST",
        "/connectors",
        {"name": "iso", "kind": "OMS", "baseUrl": "https://oms.example/api", "auth": {"type": "none"}},
        201,
    )
    for name, kind in (("iso-wms", "WMS"), ("iso-carrier", "CARRIER")):
        body = {"name": name, "kind": kind, "baseUrl": "https://wms.example/api", "auth": {"type": "none"}}
        await api.ok("POST", "/connectors", body, 201)
    outbound = await api.ok("POST", "/v3/fulfillment/outbound/oms", outbound_order("ISO-OUT-1"), 202)
    subscription = _live_subscription(engine, api.tenant)
    change = proposal(
        datetime.now(UTC), change_id=new_change_id(), session_id=session["id"], cart_id="iso-cart"
    ).view
    changes.save_proposed(engine, api.tenant, change)
    return {
        "change_id": change.id,
        "session_id": session["id"],
        "cart_id": "iso-cart",
        "webhook_id": hook["id"],
        "order_id": pending["id"],
        "fulfillment_id": promised["fulfillments"][0]["id"],
        "ref": "WH-NORTH",
        "process_type": process["type"],
        "version": str(process["version"]),
        "options_id": options["id"],
        "stateName": "OPTIONS_SELECTED",
        "application_id": app["id"],
        "device_id": device["id"],
        "key_id": key["id"],
        "subscription_id": subscription,
        "outbound_id": outbound["id"],
        "location_ref": "WH-NORTH",
        "sku_ref": "TSHIRT-W-2468",
        "connector_id": connector["id"],
    }


def _live_subscription(engine: Engine, tenant: str) -> str:
    """A live-feed subscription row as a connected replica keeps it (opening a WebSocket is not needed)."""
    now = datetime.now(UTC)
    row = LiveFeedSubscriptionRow(
        id=f"lfs_iso{tenant[-8:]}",
        tenant_id=tenant,
        replica="iso",
        connection="iso",
        filters={},
        created_at=now,
        seen_at=now,
    )
    live_feed.register(engine, row)
    return row.id
