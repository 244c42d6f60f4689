"""Sandbox carriers: two parcel carriers with their own prices, speeds and status words, following
the carrier contract in docs/partners.md, each with fault injection.

`swift` is quick and dear, `budget` slow and cheap; both price from weight and volume (a
volumetric weight of length x width x height / 5,000), so a request always has an answer to check.
Each keeps the webhooks registered with it (`POST {carrier}/webhooks`) and, driven by hand
(`POST {carrier}/shipments/{trackingNumber}/status`), sends a signed `shipment.status` to each one
registered for that number: `swift` names the outbound in `reference`, `budget` only its number.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.faults import Faults
from sandbox.partner import post_signed, valid_secret


@dataclass
class Carrier:
    name: str
    services: dict[str, tuple[float, float, int]]  # service -> (base, per kg, days)
    words: dict[str, str] = field(default_factory=dict)  # a shorthand (`delivered`) -> the carrier's word
    names_reference: bool = True  # its events name the shipper's reference, or only the number
    currency: str = "EUR"
    faults: Faults = field(default_factory=Faults)
    asked: int = 0
    secret: str | None = None  # the connector's inbound secret: what its events are signed with
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def rates(self, request: web.Request) -> web.Response:
        failure = await self.faults.apply()
        if failure is not None:
            return failure
        try:
            body: Any = await request.json()
            weight = float(body["weightKg"])
            d = body["dimensionsCm"]
            volume = float(d["length"]) * float(d["width"]) * float(d["height"])
            service = str(body["serviceType"])
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad request: {e}"}, status=400)
        self.asked += 1
        if service not in self.services:
            return web.json_response({"rates": []})
        base, per_kg, days = self.services[service]
        billed = max(weight, volume / 5000)
        rate_type = str(body.get("rateType") or "RETAIL")
        discount = 0.85 if rate_type == "CONTRACT" else 1.0
        amount = round((base + per_kg * billed) * discount, 2)
        return web.json_response(
            {
                "rates": [
                    {
                        "serviceType": service,
                        "rateType": rate_type,
                        "amount": amount,
                        "currency": self.currency,
                        "etaDays": days,
                    }
                ]
            }
        )

    async def register(self, request: web.Request) -> web.Response:
        """`POST {carrier}/webhooks {url, trackingNumber, reference?}` → 201 `{webhookId}`; the same
        URL and number again is the same registration."""
        failure = await self.faults.apply()
        if failure is not None:
            return failure
        try:
            body: Any = await request.json()
            url, number = body["url"], body["trackingNumber"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError("url must be an http(s) URL")
            if not isinstance(number, str) or not number:
                raise ValueError("trackingNumber must be a string")
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad request: {e}"}, status=400)
        for hook in self.webhooks:
            if (hook["url"], hook["trackingNumber"]) == (url, number):
                return web.json_response({"webhookId": hook["webhookId"]}, status=201)
        hook = {
            "webhookId": f"{self.name}-wh-{next(self._numbers)}",
            "url": url,
            "trackingNumber": number,
            "reference": body.get("reference"),
        }
        self.webhooks.append(hook)
        return web.json_response({"webhookId": hook["webhookId"]}, status=201)

    async def list_webhooks(self, _: web.Request) -> web.Response:
        return web.json_response({"webhooks": self.webhooks, "words": self.words})

    async def status(self, request: web.Request) -> web.Response:
        """`POST {carrier}/shipments/{trackingNumber}/status {status, occurredAt?, location?,
        estimatedDelivery?, messageId?}`: a signed `shipment.status` to every webhook registered for
        the number. `status` is the carrier's word, or a shorthand of its `words`."""
        number = request.match_info["number"]
        hooks = [h for h in self.webhooks if h["trackingNumber"] == number]
        if not hooks:
            return web.json_response({"error": f"no webhook registered for {number!r}"}, status=404)
        if self.secret is None:
            return web.json_response({"error": "configure the secret first (PUT .../config)"}, status=409)
        try:
            body: Any = await request.json()
            word = body["status"]
            if not isinstance(word, str) or not word:
                raise ValueError("status must be a word")
        except (ValueError, KeyError, TypeError) as e:
            return web.json_response({"error": f"bad request: {e}"}, status=400)
        data = {
            "trackingNumber": number,
            "status": self.words.get(word, word),
            "occurredAt": body.get("occurredAt") or datetime.now(UTC).isoformat(),
        }
        data |= {k: body[k] for k in ("location", "estimatedDelivery") if body.get(k) is not None}
        sent = []
        for hook in hooks:
            event: dict[str, Any] = {"type": "shipment.status", "data": data}
            if self.names_reference and hook.get("reference"):
                event["reference"] = hook["reference"]
            try:
                status, text = await post_signed(hook["url"], self.secret, event, body.get("messageId"))
            except (aiohttp.ClientError, TimeoutError) as e:
                sent.append({"url": hook["url"], "error": str(e)})
            else:
                sent.append({"url": hook["url"], "status": status, "body": text})
        return web.json_response({"event": data, "deliveries": sent})

    async def set_config(self, request: web.Request) -> web.Response:
        """`PUT {carrier}/config {secret}`: the secret its events are signed with."""
        try:
            body: Any = await request.json()
            secret = body.get("secret")
            if not isinstance(secret, str) or not valid_secret(secret):
                raise ValueError("secret must be a whsec_ string")
        except (ValueError, AttributeError) as e:
            return web.json_response({"error": str(e)}, status=400)
        self.secret = secret
        return web.json_response({"secretSet": True})


def carriers() -> dict[str, Carrier]:
    return {
        "swift": Carrier(
            "swift",
            {"STANDARD": (7.5, 1.2, 2), "EXPRESS": (12.0, 1.8, 1), "SAME_DAY": (24.0, 2.5, 0)},
            words={
                "pre_transit": "Label Created",
                "in_transit": "In Transit",
                "out_for_delivery": "Out for Delivery",
                "delivered": "Delivered",
                "failed_delivery": "Delivery Attempted",
                "returned": "Returned to Sender",
                "exception": "Exception",
            },
        ),
        "budget": Carrier(
            "budget",
            {"ECONOMY": (3.9, 0.6, 5), "STANDARD": (4.9, 0.8, 3)},
            words={
                "pre_transit": "MANIFESTED",
                "in_transit": "TRANSIT",
                "out_for_delivery": "OFD",
                "delivered": "DLV",
                "failed_delivery": "ATTEMPT-FAILED",
                "returned": "RTS",
                "exception": "HELD",
            },
            names_reference=False,
        ),
    }
