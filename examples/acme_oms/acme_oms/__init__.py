"""Acme OMS behind the orchestrator's OMS contract: a worked example of a partner adapter.

Acme takes shipping orders at `POST /api/v2/shipping-orders` in its own shape and answers
`{"orderNumber", "state"}`; it reports `order.accepted`, `order.declined` and `order.shipped` as
`{"event", "externalId", "details"}`, signed like any partner's events (Standard Webhooks, with the
connector's inbound secret). The orchestrator asks for `POST /outbound-orders` and expects
`outbound.confirmed`, `outbound.rejected` and `outbound.pgi` (docs/partners.md): this class is the
whole translation. A connector uses it with `"adapter": "acme-oms"`.

`acme_oms.fake` is a stand-in Acme server for tests and demos.
"""

from __future__ import annotations

from typing import Any

from egress.adapters import Request

EVENTS = {
    "order.accepted": "outbound.confirmed",
    "order.declined": "outbound.rejected",
    "order.shipped": "outbound.pgi",
}


class AcmeOms:
    def request(self, request: Request) -> Request:
        if (request.method, request.path) != ("POST", "/outbound-orders"):
            raise ValueError(f"Acme OMS takes outbound orders only, not {request.method} {request.path}")
        o = request.body
        c = o["consignee"]
        return Request(
            "POST",
            "/api/v2/shipping-orders",
            {
                "externalId": o["trackingIdShipper"],
                "orderType": "RETURN" if o["type"] == "RETURN" else "SALE",
                "ref": o.get("reference"),
                "shipTo": {
                    "name": c["name"],
                    "street": c["address1"],
                    "zip": c["postcode"],
                    "town": c["city"],
                    "countryCode": c["country"],
                    "phone": c.get("phone"),
                },
                "lines": [{"article": i["sku"], "qty": i["quantity"]} for i in o["items"]],
            },
        )

    def answer(self, request: Request, status: int, body: Any) -> Any:
        if not isinstance(body, dict) or "orderNumber" not in body:
            raise ValueError("Acme answered without an orderNumber")
        return {"omsOrderId": str(body["orderNumber"]), "status": str(body.get("state", "NEW"))}

    def event(self, body: Any) -> dict[str, Any]:
        if (
            not isinstance(body, dict)
            or body.get("event") not in EVENTS
            or not isinstance(body.get("externalId"), str)
        ):
            raise ValueError(
                f"not an Acme event: `event` must be one of {sorted(EVENTS)}, with an `externalId`"
            )
        given = body.get("details")
        details: dict[str, Any] = given if isinstance(given, dict) else {}
        data: dict[str, Any] = {}
        if body["event"] == "order.declined":
            data["reason"] = str(details.get("reason") or "declined by Acme")
        elif body["event"] == "order.shipped":
            data["items"] = [
                {"sku": line["article"], "quantity": line["qty"]} for line in details.get("lines", [])
            ]
            data["issuedAt"] = details.get("shippedAt")
            if details.get("carrierCode") and details.get("trackingCode"):
                data["carrier"] = str(details["carrierCode"]).lower()
                data["trackingNumber"] = details["trackingCode"]
        return {"type": EVENTS[body["event"]], "reference": body["externalId"], "data": data}
