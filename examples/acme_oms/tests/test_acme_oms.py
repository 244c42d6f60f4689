"""The Acme adapter's translations, both ways (the orchestrator's suite runs it against a fake Acme)."""

from __future__ import annotations

import pytest
from acme_oms import AcmeOms

from egress.adapters import Request

OUTBOUND = {
    "outboundId": "out_1",
    "trackingIdShipper": "TID-1",
    "type": "OUTBOUND",
    "reference": "PO-1",
    "consignee": {
        "name": "Ada",
        "address1": "Damrak 1",
        "city": "Amsterdam",
        "postcode": "1012",
        "country": "NL",
    },
    "items": [{"sku": "SKU-1", "quantity": 2}],
}


def test_an_outbound_order_becomes_an_acme_shipping_order() -> None:
    sent = AcmeOms().request(Request("POST", "/outbound-orders", OUTBOUND))
    assert (sent.method, sent.path) == ("POST", "/api/v2/shipping-orders")
    assert sent.body["externalId"] == "TID-1" and sent.body["lines"] == [{"article": "SKU-1", "qty": 2}]
    assert sent.body["shipTo"]["town"] == "Amsterdam" and sent.body["orderType"] == "SALE"
    answer = AcmeOms().answer(sent, 201, {"orderNumber": 42, "state": "NEW"})
    assert answer == {"omsOrderId": "42", "status": "NEW"}


def test_acme_events_become_the_contracts() -> None:
    shipped = AcmeOms().event(
        {
            "event": "order.shipped",
            "externalId": "TID-1",
            "details": {
                "lines": [{"article": "SKU-1", "qty": 2}],
                "carrierCode": "SWIFT",
                "trackingCode": "S1",
            },
        }
    )
    assert shipped["type"] == "outbound.pgi" and shipped["reference"] == "TID-1"
    assert (
        shipped["data"]["items"] == [{"sku": "SKU-1", "quantity": 2}]
        and shipped["data"]["carrier"] == "swift"
    )
    declined = AcmeOms().event(
        {"event": "order.declined", "externalId": "TID-1", "details": {"reason": "no stock"}}
    )
    assert (declined["type"], declined["data"]) == ("outbound.rejected", {"reason": "no stock"})


def test_what_acme_does_not_do_is_refused() -> None:
    with pytest.raises(ValueError, match="outbound orders only"):
        AcmeOms().request(Request("POST", "/pgi", {}))
    with pytest.raises(ValueError, match="not an Acme event"):
        AcmeOms().event({"event": "order.exploded", "externalId": "TID-1"})
