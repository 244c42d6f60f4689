"""Idempotency-Key on every create, claimed before the request runs; a shipment PUT applied once."""

from __future__ import annotations

import asyncio
import uuid

from tests.api.test_orders import network, no_grace, order_state, seed
from tests.support import ApiClient, eventually


async def test_every_create_honours_the_key_even_when_retries_race(api: ApiClient) -> None:
    creates = [
        ("/api/orders", seed(tenantOrderId="IDEM-1"), seed(tenantOrderId="IDEM-2"), 200),
        ("/webhooks", {"url": "http://127.0.0.1:9/idem"}, {"url": "http://127.0.0.1:9/x"}, 201),
    ]
    for path, body, other_body, status in creates:
        key = {"Idempotency-Key": uuid.uuid4().hex}
        replies = await asyncio.gather(*(api.call("POST", path, body, key) for _ in range(5)))
        made = [r for r in replies if r.status == status]
        assert made and all(r.status in (status, 409) for r in replies), [r.body for r in replies]
        assert all(
            r.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_IN_USE" for r in replies if r.status == 409
        )
        assert len({r.body["id"] for r in made}) == 1  # one resource, however many got through
        again = await api.call("POST", path, body, key)
        assert again.status == status and again.body["id"] == made[0].body["id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        other = await api.call("POST", path, other_body, key)
        assert other.status == 422 and other.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"

    # Lists read the read model, which the order's workflow writes in its first task: wait for it.
    async def listed() -> bool:
        return bool((await api.ok("GET", "/api/orders?tenantOrderId=IDEM-1"))["total"] >= 1)

    await eventually(listed, what="the order in the read model")
    assert (await api.ok("GET", "/api/orders?tenantOrderId=IDEM-1"))["total"] == 1
    assert len(await api.ok("GET", "/webhooks")) == 1


async def test_a_shipment_sent_again_is_recorded_once(api: ApiClient) -> None:
    await network(api)
    await no_grace(api)
    order = await api.ok("POST", "/api/orders", seed(tenantOrderId="SHIP-1", paymentStatus="PAID"))
    promised = await order_state(api, order["id"], "PROMISED")
    north = next(f for f in promised["fulfillments"] if f["locationRef"] == "WH-NORTH")
    shipment = {
        "carrier": "DHL",
        "trackingNumber": "TRK-1",
        "shipmentVariants": [{"variant": "TSHIRT-W-2468", "quantity": 2}],
    }
    first, second = await asyncio.gather(
        *(api.call("PUT", f"/v1/fulfillments/{north['id']}/shipments", shipment) for _ in range(2))
    )
    assert first.status == second.status == 200, (first.body, second.body)
    assert len((await api.ok("GET", f"/v1/fulfillments/{north['id']}"))["shipments"]) == 1
    clash = {**shipment, "shipmentVariants": [{"variant": "TSHIRT-W-2468", "quantity": 1}]}
    reply = await api.call("PUT", f"/v1/fulfillments/{north['id']}/shipments", clash)
    assert reply.status == 409 and reply.body["errors"][0]["field"] == "trackingNumber"
    events = (await api.ok("GET", f"/events?subject={order['id']}&type=fulfillment.shipment_added"))["items"]
    assert len(events) == 1
