"""Logistics pricing against the sandbox's two carriers over loopback: asked at once, each within its
connector's timeout; a failing carrier is listed beside the others' quotes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from sandbox.app import CARRIERS_PATH, create_app
from storage.tables import QuoteRow
from tests.support import ApiClient, loopback

ASK = {
    "origin": {"postcode": "1011 AB", "city": "Amsterdam", "country": "NL"},
    "destination": {"postcode": "3011", "city": "Rotterdam", "country": "NL"},
    "weightKg": 2.5,
    "dimensionsCm": {"length": 30, "width": 20, "height": 10},
    "serviceType": "STANDARD",
}


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    async with loopback(create_app([])) as url:
        yield url


async def carriers(api: ApiClient, sandbox: str, seconds: float = 5) -> None:
    for name in ("swift", "budget"):
        body = {
            "name": name,
            "kind": "CARRIER",
            "baseUrl": f"{sandbox}{CARRIERS_PATH}/{name}",
            "auth": {"type": "none"},
            "timeoutSeconds": seconds,
        }
        await api.ok("POST", "/connectors", body, 201)


async def fault(http: aiohttp.ClientSession, sandbox: str, carrier: str, **faults: Any) -> None:
    async with http.put(f"{sandbox}/faults/{carrier}", json=faults) as r:
        assert r.status == 200, await r.text()


async def test_every_carrier_quotes_and_the_cheapest_and_fastest_are_named(
    api: ApiClient, sandbox: str, engine: Engine
) -> None:
    await carriers(api, sandbox)
    priced = await api.ok("POST", "/v3/fulfillment/pricing/domestic", ASK)
    by = {q["provider"]: q for q in priced["quotes"]}
    assert set(by) == {"swift", "budget"} and priced["errors"] == []
    assert by["budget"]["price"]["amount"] < by["swift"]["price"]["amount"]
    assert by["swift"]["etaDays"] < by["budget"]["etaDays"]
    assert (priced["cheapest"], priced["fastest"]) == (by["budget"]["quoteId"], by["swift"]["quoteId"])
    with Session(engine) as s:
        kept = s.exec(select(QuoteRow).where(QuoteRow.tenant_id == api.tenant)).all()
    assert {(q.id, q.provider, q.amount) for q in kept} == {
        (q["quoteId"], q["provider"], q["price"]["amount"]) for q in priced["quotes"]
    }


async def test_a_slow_carrier_is_listed_as_failed_beside_the_others_quotes(
    api: ApiClient, sandbox: str, http: aiohttp.ClientSession
) -> None:
    await carriers(api, sandbox, seconds=0.5)
    await fault(http, sandbox, "swift", latencyMs=3000)
    priced = await api.ok("POST", "/v3/fulfillment/pricing/domestic", ASK)
    assert [q["provider"] for q in priced["quotes"]] == ["budget"]
    assert [(e["provider"], "in time" in e["message"]) for e in priced["errors"]] == [("swift", True)]
    assert priced["cheapest"] == priced["fastest"] == priced["quotes"][0]["quoteId"]


async def test_no_carrier_answering_is_503_naming_each(
    api: ApiClient, sandbox: str, http: aiohttp.ClientSession
) -> None:
    await carriers(api, sandbox)
    await fault(http, sandbox, "swift", down=True)
    await fault(http, sandbox, "budget", errorRate=1.0)
    refused = await api.post("/v3/fulfillment/pricing/domestic", ASK)
    assert refused.status == 503 and refused.body["errors"][0]["code"] == "NO_CARRIER_ANSWERED"
    assert "swift" in refused.body["detail"] and "budget" in refused.body["detail"]


async def test_a_service_no_carrier_offers_is_an_empty_answer(api: ApiClient, sandbox: str) -> None:
    await carriers(api, sandbox)
    priced = await api.ok("POST", "/v3/fulfillment/pricing/domestic", {**ASK, "serviceType": "OVERNIGHT"})
    assert priced == {"quotes": [], "cheapest": None, "fastest": None, "errors": []}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weightKg": None}, "weightKg"),
        ({"weightKg": 0}, "weightKg"),
        ({"weightKg": -1}, "weightKg"),
        ({"dimensionsCm": {"length": 30, "width": 0, "height": 10}}, "dimensionsCm.width"),
        ({"dimensionsCm": None}, "dimensionsCm"),
        ({"origin": {"postcode": "1011", "city": "A", "country": "Netherlands"}}, "origin.country"),
        ({"serviceType": "express"}, "serviceType"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    api: ApiClient, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**ASK, **change}.items() if v is not None}
    refused = await api.post("/v3/fulfillment/pricing/domestic", body)
    assert refused.status == 400 and refused.body["errors"][0]["field"] == field, refused.body


async def test_without_carriers_there_is_nobody_to_ask(api: ApiClient) -> None:
    refused = await api.post("/v3/fulfillment/pricing/domestic", ASK)
    assert refused.status == 422 and refused.body["errors"][0]["code"] == "NO_CARRIERS"
