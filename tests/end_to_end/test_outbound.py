"""Outbound orders through the OMS, the WMS and a carrier: over HTTP, against real Temporal, with the
sandbox's OMS, WMS and carriers on a loopback port, signing their events as partners do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from acme_oms.fake import FakeAcme

from sandbox.app import CARRIERS_PATH, OMS_PATH, RECEIVER_PATH, WMS_PATH, create_app
from tests.api.test_orders import network, order_state, seed
from tests.api.test_pricing import ASK
from tests.support import ApiClient, eventually, loopback

OUT = "/v3/fulfillment/outbound"
CLIENT_TYPES = ("outbound.", "shipment.")


@dataclass
class Partners:
    """A tenant wired to a sandbox of its own: connectors `oms`, `wms`, `swift`, `budget`."""

    api: ApiClient
    http: aiohttp.ClientSession
    url: str
    connectors: dict[str, dict[str, Any]]

    async def sandbox(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.http.request(method, self.url + path, json=body) as r:
            answer = await r.json(content_type=None)
            assert r.status == status, (method, path, r.status, answer)
            return answer

    async def send_as(self, connector: str, type_: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """An event signed as the connector's partner signs it (the sandbox's `send`): our answer."""
        body = {
            "url": f"{self.api.base}/partners/{self.connectors[connector]['id']}/events",
            "secret": self.connectors[connector]["inboundSecret"],
            "type": type_,
            "data": data,
            **extra,
        }
        sent: dict[str, Any] = await self.sandbox("POST", "/partners/http/send", body)
        return sent

    async def faults(self, partner: str, **faults: Any) -> None:
        await self.sandbox("PUT", f"/faults/{partner}", faults)

    async def received(self) -> list[dict[str, Any]]:
        """The client's webhooks of outbound and shipment events, in arrival order."""
        got = await self.sandbox("GET", "/received?limit=1000")
        return [r for r in got if (r["type"] or "").startswith(CLIENT_TYPES)]

    async def outbound(self, outbound_id: str) -> dict[str, Any]:
        body: dict[str, Any] = await self.api.ok("GET", f"{OUT}/{outbound_id}")
        return body

    async def until(self, outbound_id: str, what: str, check: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def holds() -> bool:
            seen.update(await self.outbound(outbound_id))
            return bool(check(seen))

        await eventually(holds, what=what)
        return seen

    async def status_is(self, outbound_id: str, status: str) -> dict[str, Any]:
        return await self.until(outbound_id, f"outbound in {status}", lambda o: o["status"] == status)

    async def carrier_says(self, carrier: str, number: str, status: str, **extra: Any) -> dict[str, Any]:
        body = {"status": status, **extra}
        sent: dict[str, Any] = await self.sandbox(
            "POST", f"{CARRIERS_PATH}/{carrier}/shipments/{number}/status", body
        )
        return sent


@asynccontextmanager
async def partners(api: ApiClient, http: aiohttp.ClientSession) -> AsyncIterator[Partners]:
    async with loopback(create_app([])) as url:
        made = {}
        for name, kind, path in (
            ("oms", "OMS", OMS_PATH),
            ("wms", "WMS", WMS_PATH),
            ("swift", "CARRIER", f"{CARRIERS_PATH}/swift"),
            ("budget", "CARRIER", f"{CARRIERS_PATH}/budget"),
        ):
            body = {"name": name, "kind": kind, "baseUrl": url + path, "auth": {"type": "none"}}
            made[name] = await api.ok("POST", "/connectors", body, 201)
        p = Partners(api, http, url, made)
        events = f"{api.base}/partners/{made['oms']['id']}/events"
        await p.sandbox(
            "PUT", f"{OMS_PATH}/config", {"eventsUrl": events, "secret": made["oms"]["inboundSecret"]}
        )
        for carrier in ("swift", "budget"):
            await p.sandbox(
                "PUT", f"{CARRIERS_PATH}/{carrier}/config", {"secret": made[carrier]["inboundSecret"]}
            )
        hook = await api.ok("POST", "/webhooks", {"url": url + RECEIVER_PATH}, 201)
        await p.sandbox("POST", f"{RECEIVER_PATH}/secrets", {"secret": hook["secret"]}, 201)
        yield p


def outbound_order(tid: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "trackingIdShipper": tid or f"TID-{uuid.uuid4().hex[:10]}",
        "type": "OUTBOUND",
        "reference": "PO-1",
        "consignee": {
            "name": "Ada Lovelace",
            "address1": "Damrak 1",
            "city": "Amsterdam",
            "postcode": "1012 LG",
            "country": "NL",
            "phone": "+31 20 123 4567",
        },
        "items": [{"sku": "SKU-1", "quantity": 2, "weightKg": 0.5}, {"sku": "SKU-2", "quantity": 1}],
        **extra,
    }


async def test_an_outbound_goes_from_received_to_delivered_with_each_partner_once(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    async with partners(api, http) as p:
        body = outbound_order()
        tid = body["trackingIdShipper"]
        ack = await api.ok("POST", f"{OUT}/oms", body, 202)
        assert ack == {"id": ack["id"], "trackingIdShipper": tid, "status": "RECEIVED"}
        outbound_id = ack["id"]

        confirmed = await p.status_is(outbound_id, "CONFIRMED")
        oms = await p.sandbox("GET", f"{OMS_PATH}/outbound-orders")
        assert [r["trackingIdShipper"] for r in oms["requests"]] == [tid]
        assert confirmed["omsOrderId"] == oms["orders"][0]["omsOrderId"]
        assert oms["orders"][0]["consignee"]["city"] == "Amsterdam"

        pgi = await p.sandbox("POST", f"{OMS_PATH}/outbound/{tid}/pgi", {"carrier": "swift"})
        assert pgi["status"] == 202, pgi
        number = pgi["data"]["trackingNumber"]
        issued = await p.until(
            outbound_id,
            "the WMS accepted the PGI and the carrier webhook is registered",
            lambda o: (
                (o["wms"] or {}).get("status") == "ACCEPTED"
                and (o["shipment"] or {}).get("trackingRegistered")
            ),
        )
        assert issued["status"] == "GOODS_ISSUED" and issued["shipment"]["carrier"] == "swift"
        wms = await p.sandbox("GET", f"{WMS_PATH}/pgi")
        assert [(x["trackingIdShipper"], x["trackingNumber"]) for x in wms["pgi"]] == [(tid, number)]
        assert wms["pgi"][0]["items"] == [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}]
        hooks = await p.sandbox("GET", f"{CARRIERS_PATH}/swift/webhooks")
        assert [(h["trackingNumber"], h["url"]) for h in hooks["webhooks"]] == [
            (number, f"{api.base}/partners/{p.connectors['swift']['id']}/events")
        ]

        for word, status in (
            ("in_transit", "IN_TRANSIT"),
            ("out_for_delivery", "OUT_FOR_DELIVERY"),
            ("delivered", "DELIVERED"),
        ):
            sent = await p.carrier_says("swift", number, word, location="Amsterdam")
            assert sent["deliveries"][0]["status"] == 202, sent
            done = await p.status_is(outbound_id, status)
        assert done["shipment"]["status"] == "DELIVERED" and done["shipment"]["carrierStatus"] == "Delivered"
        steps = [h["status"] for h in done["history"]]
        assert (
            steps[:4] == ["RECEIVED", "SUBMITTED", "CONFIRMED", "GOODS_ISSUED"] and steps[-1] == "DELIVERED"
        )
        calls = {(c["step"], c["outcome"]) for c in done["calls"]}
        assert calls == {
            ("RECEIVED.steps[0]", "succeeded"),
            ("GOODS_ISSUED.wms", "succeeded"),
            ("shipment.tracking", "succeeded"),
        }

        async def all_five() -> bool:
            return len(await p.received()) >= 5

        await eventually(all_five, what="the client's five webhooks")
        got = await p.received()
        assert all(r["verified"] for r in got)
        assert [(r["type"], r["body"]["data"]["status"]) for r in got] == [
            ("outbound.confirmed", "CONFIRMED"),
            ("outbound.goods_issued", "GOODS_ISSUED"),
            ("shipment.status_changed", "IN_TRANSIT"),
            ("shipment.status_changed", "OUT_FOR_DELIVERY"),
            ("shipment.status_changed", "DELIVERED"),
        ]
        assert got[2]["body"]["data"]["carrierStatus"] == "In Transit"
        assert got[2]["body"]["data"]["trackingNumber"] == number


async def test_an_outbound_sent_while_the_oms_is_down_for_30_s_is_confirmed_after_it_recovers(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    async with partners(api, http) as p:
        await p.faults("oms", downForMs=30_000)  # the sandbox comes back up by itself
        ack = await api.ok("POST", f"{OUT}/oms", outbound_order(), 202)
        assert ack["status"] == "RECEIVED"

        async def confirmed() -> bool:
            return bool((await p.outbound(ack["id"]))["status"] == "CONFIRMED")

        await eventually(confirmed, within=90, what="the outbound confirmed once the OMS is back")
        done = await p.outbound(ack["id"])
        attempts = [c for c in done["calls"] if c["step"] == "RECEIVED.steps[0]"]
        assert [c["outcome"] for c in attempts][-1] == "succeeded"
        assert all(c["statusCode"] == 503 for c in attempts[:-1]) and len(attempts) >= 4
        first, last = (datetime.fromisoformat(attempts[i]["at"]) for i in (0, -1))
        assert last - first >= timedelta(seconds=29)  # it kept trying through the outage
        assert len({c["idempotencyKey"] for c in attempts}) == 1
        oms = await p.sandbox("GET", f"{OMS_PATH}/outbound-orders")
        assert len(oms["orders"]) == 1 and len(oms["requests"]) == 1  # the 503s never reached it


async def test_carrier_events_are_verified_applied_once_and_never_backwards(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    """`budget` names only the tracking number; the WMS is down when the goods are issued, so the
    carrier's DELIVERED waits for it."""
    async with partners(api, http) as p:
        ack = await api.ok("POST", f"{OUT}/oms", outbound_order(), 202)
        tid, outbound_id = ack["trackingIdShipper"], ack["id"]
        await p.status_is(outbound_id, "CONFIRMED")
        await p.faults("wms", down=True)
        await p.sandbox(
            "POST", f"{OMS_PATH}/outbound/{tid}/pgi", {"carrier": "budget", "trackingNumber": "B-77"}
        )
        await p.until(
            outbound_id, "tracking at budget", lambda o: (o["shipment"] or {}).get("trackingRegistered")
        )

        now = datetime.now(UTC)
        late = (now - timedelta(minutes=5)).isoformat()
        sent = await p.carrier_says(
            "budget", "B-77", "in_transit", occurredAt=now.isoformat(), messageId="m-1"
        )
        assert sent["deliveries"][0]["status"] == 202
        await p.status_is(outbound_id, "IN_TRANSIT")
        again = await p.carrier_says(
            "budget", "B-77", "in_transit", occurredAt=now.isoformat(), messageId="m-1"
        )
        assert again["deliveries"][0]["status"] == 200  # a replay: stored once, applied once
        older = await p.carrier_says("budget", "B-77", "pre_transit", occurredAt=late, messageId="m-2")
        assert older["deliveries"][0]["status"] == 202
        stale = await p.until(
            outbound_id, "the older word dropped", lambda o: o["shipment"].get("stale") == 1
        )
        assert stale["status"] == "IN_TRANSIT" and stale["shipment"]["status"] == "IN_TRANSIT"

        delivered_at = (now + timedelta(minutes=1)).isoformat()
        await p.carrier_says("budget", "B-77", "delivered", occurredAt=delivered_at, messageId="m-3")
        events = await api.ok("GET", f"/partners/{p.connectors['budget']['id']}/events")
        assert {e["messageId"] for e in events if e["sessionId"] == outbound_id} == {"m-1", "m-2", "m-3"}
        held = await p.outbound(outbound_id)
        assert held["status"] == "IN_TRANSIT" and held["wms"]["status"] == "PENDING"
        await p.faults("wms", down=False)
        done = await p.status_is(outbound_id, "DELIVERED")
        assert done["wms"]["status"] == "ACCEPTED" and done["shipment"]["carrierStatus"] == "DLV"
        order_of_changes = [h["action"] for h in done["history"]]
        assert order_of_changes.index("wms_accepted") < order_of_changes.index("deliver")

        for data, field in (
            ({"trackingNumber": "B-77", "status": "DLV", "occurredAt": "not-a-date"}, "data.occurredAt"),
            (
                {"trackingNumber": "B-77", "status": "DLV", "occurredAt": "2026-11-28T10:00:00"},
                "data.occurredAt",
            ),
            ({"trackingNumber": "B-77", "occurredAt": delivered_at}, "data.status"),
            (
                {
                    "trackingNumber": "B-77",
                    "status": "DLV",
                    "occurredAt": delivered_at,
                    "estimatedDelivery": "soon",
                },
                "data.estimatedDelivery",
            ),
        ):
            answer = await p.send_as("budget", "shipment.status", data)
            assert answer["status"] == 400 and field in answer["body"], (field, answer)
        data = {"trackingNumber": "B-77", "status": "DLV", "occurredAt": delivered_at}
        assert (await p.send_as("budget", "shipment.status", data, badSignature=True))["status"] == 401

        async def three() -> bool:
            return len([r for r in await p.received() if r["type"] == "shipment.status_changed"]) >= 2

        await eventually(three, what="the shipment's webhooks")
        shipment_hooks = [
            r["body"]["data"] for r in await p.received() if r["type"] == "shipment.status_changed"
        ]
        assert [(h["status"], h["previousStatus"]) for h in shipment_hooks] == [
            ("IN_TRANSIT", None),
            ("DELIVERED", "IN_TRANSIT"),
        ]


async def budget_quote(api: ApiClient) -> str:
    priced = await api.ok("POST", "/v3/fulfillment/pricing/domestic", ASK)
    return str(next(q["quoteId"] for q in priced["quotes"] if q["provider"] == "budget"))


async def test_a_carrier_estimate_past_the_promise_fires_shipment_delayed_once(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    async with partners(api, http) as p:
        priced = await api.ok("POST", "/v3/fulfillment/pricing/domestic", ASK)
        quote = next(q for q in priced["quotes"] if q["provider"] == "swift")
        promised = date.today() + timedelta(days=quote["etaDays"])
        ack = await api.ok("POST", f"{OUT}/oms", outbound_order(quoteId=quote["quoteId"]), 202)
        await p.status_is(ack["id"], "CONFIRMED")
        again = await api.ok("POST", "/v3/fulfillment/pricing/domestic", ASK)  # booked on a newer quote
        newer = next(q["quoteId"] for q in again["quotes"] if q["provider"] == "swift")
        booked = {"carrier": "swift", "trackingNumber": "S-0", "quoteId": newer}
        assert (await api.ok("PUT", f"{OUT}/{ack['id']}/shipment", booked))["shipment"]["quoteId"] == newer
        set_ = await api.ok(
            "PUT", f"{OUT}/{ack['id']}/shipment", {"carrier": "swift", "trackingNumber": "S-1"}
        )
        assert set_["shipment"]["trackingNumber"] == "S-1"  # replaced: it keeps the promise it was booked on
        assert set_["shipment"]["promisedBy"] == promised.isoformat()
        assert set_["shipment"]["quoteId"] == newer
        await p.sandbox("POST", f"{OMS_PATH}/outbound/{ack['trackingIdShipper']}/pgi", {})
        await p.until(ack["id"], "tracking at swift", lambda o: o["shipment"]["trackingRegistered"])

        on_time = promised.isoformat()
        await p.carrier_says("swift", "S-1", "in_transit", estimatedDelivery=on_time)
        late, later = (promised + timedelta(days=2)).isoformat(), (promised + timedelta(days=3)).isoformat()
        now = datetime.now(UTC)
        await p.carrier_says("swift", "S-1", "exception", estimatedDelivery=late, occurredAt=now.isoformat())
        await p.carrier_says(
            "swift",
            "S-1",
            "in_transit",
            estimatedDelivery=later,
            occurredAt=(now + timedelta(seconds=1)).isoformat(),
        )
        seen = await p.until(ack["id"], "three carrier events", lambda o: len(o["shipment"]["events"]) == 3)
        assert seen["shipment"]["delayed"] is True and seen["shipment"]["estimatedDelivery"] == later

        async def four() -> bool:
            return len([r for r in await p.received() if r["type"].startswith("shipment.")]) >= 4

        await eventually(four, what="the shipment's webhooks")
        got = [
            (r["type"], r["body"]["data"]["status"])
            for r in await p.received()
            if r["type"].startswith("shipment.")
        ]
        assert got == [
            ("shipment.status_changed", "IN_TRANSIT"),
            ("shipment.status_changed", "EXCEPTION"),
            ("shipment.delayed", "EXCEPTION"),
            ("shipment.status_changed", "IN_TRANSIT"),
        ]
        delayed = next(r["body"]["data"] for r in await p.received() if r["type"] == "shipment.delayed")
        assert delayed["promisedBy"] == promised.isoformat() and delayed["estimatedDelivery"] == late


async def test_an_oms_rejection_ends_the_outbound_with_its_reason(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    async with partners(api, http) as p:
        await p.sandbox("PUT", f"{OMS_PATH}/config", {"rejectSkus": ["SKU-2"]})
        ack = await api.ok("POST", f"{OUT}/oms", outbound_order(), 202)
        done = await p.status_is(ack["id"], "REJECTED")
        assert done["history"][-1]["data"]["reason"] == done["rejectionReason"] == "unknown SKUs ['SKU-2']"

        async def rejected() -> bool:
            return any(r["type"] == "outbound.rejected" for r in await p.received())

        await eventually(rejected, what="outbound.rejected at the client")
        hook = next(r for r in await p.received() if r["type"] == "outbound.rejected")
        assert hook["body"]["data"]["reason"] == "unknown SKUs ['SKU-2']" and hook["verified"]
        listed = await api.ok("GET", f"{OUT}?status=REJECTED&trackingIdShipper={ack['trackingIdShipper']}")
        assert [o["id"] for o in listed["items"]] == [ack["id"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trackingIdShipper": ""}, "trackingIdShipper"),
        ({"trackingIdShipper": None}, "trackingIdShipper"),
        ({"type": "SIDEWAYS"}, "type"),
        ({"items": []}, "items"),
        ({"consignee": {"name": "x"}}, "consignee.address1"),
        ({"items": [{"sku": "A", "quantity": "2"}]}, "items[0].quantity"),
        ({"items": [{"sku": "A", "quantity": True}]}, "items[0].quantity"),
        ({"items": [{"sku": "A", "quantity": 1, "weightKg": "0.5"}]}, "items[0].weightKg"),
    ],
)
async def test_a_bad_outbound_is_refused_naming_the_field(
    api: ApiClient, change: dict[str, Any], field: str
) -> None:
    reply = await api.post(f"{OUT}/oms", {**outbound_order(), **change})
    assert reply.status == 400, reply.body
    assert field in [e["field"] for e in reply.body["errors"]]


async def test_the_tracking_id_is_the_key_and_partners_must_exist(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    body = outbound_order()
    missing = await api.post(f"{OUT}/oms", body)
    assert missing.status == 422 and missing.body["errors"][0]["code"] == "NO_SINGLE_OMS"
    async with partners(api, http) as p:
        await p.sandbox("PUT", f"{OMS_PATH}/config", {"autoConfirm": False})
        first = await api.ok("POST", f"{OUT}/oms", body, 202)
        again = await api.ok("POST", f"{OUT}/oms", body, 200)
        assert again["id"] == first["id"]
        other = await api.post(f"{OUT}/oms", {**body, "reference": "PO-2"})
        assert other.status == 409 and other.body["errors"][0]["field"] == "trackingIdShipper"
        assert other.body["outboundId"] == first["id"]
        unknown_wms = await api.post(f"{OUT}/oms", outbound_order(warehouseRef="swift"))
        assert unknown_wms.status == 422 and unknown_wms.body["errors"][0]["field"] == "warehouseRef"

        await p.status_is(first["id"], "SUBMITTED")
        early = await api.call(
            "PUT", f"{OUT}/{first['id']}/shipment", {"carrier": "swift", "trackingNumber": "X1"}
        )
        assert early.status == 409 and early.body["errors"][0]["code"] == "SHIPMENT_NOT_SETTABLE"
        await p.sandbox("POST", f"{OMS_PATH}/outbound/{body['trackingIdShipper']}/confirm", {})
        await p.status_is(first["id"], "CONFIRMED")
        not_carrier = await api.call(
            "PUT", f"{OUT}/{first['id']}/shipment", {"carrier": "oms", "trackingNumber": "X1"}
        )
        assert not_carrier.status == 422 and not_carrier.body["errors"][0]["field"] == "carrier"
        bad_quote = await api.call(
            "PUT",
            f"{OUT}/{first['id']}/shipment",
            {"carrier": "swift", "trackingNumber": "X1", "quoteId": "q_nope"},
        )
        assert bad_quote.status == 422 and bad_quote.body["errors"][0]["field"] == "quoteId"
        for unknown in ("out_nothing", "abc"):
            missing_one = await api.get(f"{OUT}/{unknown}")
            assert missing_one.status == 404 and missing_one.body["errors"][0]["code"] == "OUTBOUND_NOT_FOUND"
        session = await api.new_session()
        assert (await api.get(f"{OUT}/{session['id']}")).status == 404  # a session, not an outbound
        mimic = {
            "type": "OUTBOUND",
            "states": [{"name": "A"}, {"name": "B"}],
            "initialState": "A",
            "terminalStates": ["B"],
            "transitions": [{"from": "A", "action": "go", "to": "B"}],
        }
        taken = await api.post("/processes", mimic)
        assert taken.status == 409 and taken.body["errors"][0]["code"] == "RESERVED_TYPE"
        assert (await api.post("/sessions", {"processType": "OUTBOUND", "cartId": "c"})).status == 404


async def test_a_fulfillments_shipment_is_tracked_at_its_carrier_and_delivers_the_order(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    """A shipment added through `/v1/fulfillments/{id}/shipments` whose carrier is a CARRIER connector
    is registered there; its statuses move the fulfillment and, with the others, the order."""
    async with partners(api, http) as p:
        await network(api)
        current = await api.ok("GET", "/api/configurations/fulfillable")
        await api.as_admin.ok(
            "PUT", "/api/configurations/fulfillable", {"version": current["version"], "gracePeriodSeconds": 0}
        )
        order = await api.ok("POST", "/api/orders", seed(tenantOrderId="TRK-1", paymentStatus="PAID"))
        promised = await order_state(api, order["id"], "PROMISED")
        quote = await budget_quote(api)
        for n, f in enumerate(promised["fulfillments"]):
            lines = [{"variant": v["variant"], "quantity": v["quantity"]} for v in f["variants"]]
            if n == 0:
                shipment = {"carrier": "budget", "trackingNumber": "FT-0", "shipmentVariants": lines}
                mismatch = await api.call(
                    "PUT",
                    f"/v1/fulfillments/{f['id']}/shipments",
                    {**shipment, "carrier": "swift", "quoteId": quote},
                )
                assert (
                    mismatch.status == 422
                    and mismatch.body["errors"][0]["code"] == "QUOTE_OF_ANOTHER_CARRIER"
                )
                shipment["quoteId"] = quote
            else:  # ups is no connector of the tenant: not tracked
                shipment = {"carrier": "ups", "trackingNumber": f"FT-{n}", "shipmentVariants": lines}
            await api.ok("PUT", f"/v1/fulfillments/{f['id']}/shipments", shipment)
        tracked = promised["fulfillments"][0]

        async def registered() -> bool:
            got = await api.ok("GET", f"/v1/fulfillments/{tracked['id']}")
            return bool(got["tracking"].get("FT-0", {}).get("registered"))

        await eventually(registered, what="the budget shipment's webhook")
        hooks = await p.sandbox("GET", f"{CARRIERS_PATH}/budget/webhooks")
        assert [h["trackingNumber"] for h in hooks["webhooks"]] == ["FT-0"]

        now = datetime.now(UTC)
        promised_by = (await api.ok("GET", f"/v1/fulfillments/{tracked['id']}"))["tracking"]["FT-0"][
            "promisedBy"
        ]
        late = (date.fromisoformat(promised_by) + timedelta(days=2)).isoformat()
        await p.carrier_says(
            "budget", "FT-0", "in_transit", occurredAt=now.isoformat(), estimatedDelivery=late
        )
        await p.carrier_says(
            "budget", "FT-0", "pre_transit", occurredAt=(now - timedelta(hours=1)).isoformat()
        )
        await p.carrier_says("budget", "FT-0", "delivered", occurredAt=(now + timedelta(hours=1)).isoformat())

        async def delivered() -> bool:
            return bool((await api.ok("GET", f"/v1/fulfillments/{tracked['id']}"))["status"] == "delivered")

        await eventually(delivered, what="the tracked fulfillment delivered")
        got = await api.ok("GET", f"/v1/fulfillments/{tracked['id']}")
        assert (
            got["tracking"]["FT-0"]["status"] == "DELIVERED"
            and got["tracking"]["FT-0"]["carrierStatus"] == "DLV"
        )
        assert [v["fulfilledQuantity"] for v in got["variants"]] == [
            v["quantity"] for v in tracked["variants"]
        ]
        for f in promised["fulfillments"][1:]:
            untracked = await api.ok("GET", f"/v1/fulfillments/{f['id']}")
            assert untracked["tracking"] == {} and untracked["status"] == "open"

        async def changes() -> bool:
            return len([r for r in await p.received() if r["type"].startswith("shipment.")]) >= 3

        await eventually(changes, what="the fulfillment's shipment webhooks")
        hooks_seen = [r for r in await p.received() if r["type"].startswith("shipment.")]
        assert [
            (h["type"], h["body"]["data"]["fulfillmentId"], h["body"]["data"]["status"]) for h in hooks_seen
        ] == [
            ("shipment.status_changed", tracked["id"], "IN_TRANSIT"),
            ("shipment.delayed", tracked["id"], "IN_TRANSIT"),
            ("shipment.status_changed", tracked["id"], "DELIVERED"),
        ]
        assert hooks_seen[1]["body"]["data"]["promisedBy"] == promised_by


async def test_an_oms_with_its_own_api_plugs_in_through_an_adapter(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    """The example package's Acme adapter (`examples/acme_oms`) against its stand-in Acme server."""
    unknown = await api.post(
        "/connectors",
        {
            "name": "x",
            "kind": "OMS",
            "baseUrl": "https://oms.example",
            "auth": {"type": "none"},
            "adapter": "nope",
        },
    )
    assert unknown.status == 400 and unknown.body["errors"][0] == {
        "code": "UNKNOWN_ADAPTER",
        "message": "no adapter 'nope' is installed; installed: acme-oms",
        "field": "adapter",
    }
    async with partners(api, http) as p:
        acme = FakeAcme()
        async with loopback(acme.app()) as acme_url:
            oms = p.connectors["oms"]
            patched = await api.ok(
                "PATCH", f"/connectors/{oms['id']}", {"baseUrl": acme_url, "adapter": "acme-oms"}
            )
            assert patched["adapter"] == "acme-oms"
            acme.events_url, acme.secret = f"{api.base}/partners/{oms['id']}/events", oms["inboundSecret"]
            body = outbound_order()
            tid = body["trackingIdShipper"]
            ack = await api.ok("POST", f"{OUT}/oms", body, 202)

            submitted = await p.status_is(ack["id"], "SUBMITTED")
            assert submitted["omsOrderId"] == "A-00001"
            assert [(o["externalId"], o["lines"]) for o in acme.orders] == [
                (tid, [{"article": "SKU-1", "qty": 2}, {"article": "SKU-2", "qty": 1}])
            ]
            assert await acme.send("order.accepted", tid) == 202
            await p.status_is(ack["id"], "CONFIRMED")
            lines = [{"article": "SKU-1", "qty": 2}, {"article": "SKU-2", "qty": 1}]
            shipped = await acme.send(
                "order.shipped", tid, lines=lines, carrierCode="SWIFT", trackingCode="S-ACME"
            )
            assert shipped == 202
            issued = await p.status_is(ack["id"], "GOODS_ISSUED")
            assert (issued["shipment"]["carrier"], issued["shipment"]["trackingNumber"]) == (
                "swift",
                "S-ACME",
            )
            assert issued["pgi"]["items"] == [
                {"sku": "SKU-1", "quantity": 2},
                {"sku": "SKU-2", "quantity": 1},
            ]
            assert await acme.send("order.exploded", tid) == 400


async def test_a_pgi_the_wms_refused_is_sent_again_on_request_and_the_held_delivery_follows(
    api: ApiClient, http: aiohttp.ClientSession
) -> None:
    async with partners(api, http) as p:
        ack = await api.ok("POST", f"{OUT}/oms", outbound_order(), 202)
        await p.status_is(ack["id"], "CONFIRMED")
        early = await api.call("POST", f"{OUT}/{ack['id']}/resend_pgi")
        assert early.status == 409 and early.body["errors"][0]["code"] == "PGI_NOT_REFUSED"
        await p.sandbox("PUT", f"{WMS_PATH}/config", {"refuse": "lot L-1 is blocked"})
        pgi = {"carrier": "swift", "trackingNumber": "SW-R"}
        await p.sandbox("POST", f"{OMS_PATH}/outbound/{ack['trackingIdShipper']}/pgi", pgi)
        refused = await p.until(
            ack["id"], "the WMS refused", lambda o: (o["wms"] or {}).get("status") == "REFUSED"
        )
        assert "lot L-1 is blocked" in refused["wms"]["reason"]
        await p.until(ack["id"], "tracking at swift", lambda o: o["shipment"]["trackingRegistered"])
        await p.carrier_says("swift", "SW-R", "delivered")

        async def held() -> bool:
            events = await api.ok("GET", f"/partners/{p.connectors['swift']['id']}/events")
            return any(e["sessionId"] == ack["id"] and e["delivered"] for e in events)

        await eventually(held, what="the carrier's delivery handed to the outbound")
        assert (await p.outbound(ack["id"]))["status"] == "GOODS_ISSUED"  # it waits for the WMS

        await p.sandbox("PUT", f"{WMS_PATH}/config", {"refuse": None})
        resent = await api.ok("POST", f"{OUT}/{ack['id']}/resend_pgi")
        assert resent["wms"]["status"] in ("PENDING", "ACCEPTED") and resent["wms"]["sent"] == 2
        done = await p.status_is(ack["id"], "DELIVERED")
        assert done["wms"]["status"] == "ACCEPTED" and done["wms"]["sent"] == 2
        wms = await p.sandbox("GET", f"{WMS_PATH}/pgi")
        assert [r["idempotencyKey"] for r in wms["requests"]] == [f"{ack['id']}:pgi", f"{ack['id']}:pgi:2"]
        assert len(wms["pgi"]) == 1
        refusals = [r for r in await p.received() if r["type"] == "outbound.wms_refused"]
        assert [r["body"]["data"]["reason"] for r in refusals] and "lot L-1" in refusals[0]["body"]["data"][
            "reason"
        ]
