"""Logistics pricing (`/v3/fulfillment/pricing/domestic`): every carrier connector asked at once.

A checkout-time call: no workflow, nothing committed but the quotes (kept for reconciliation). Each
carrier gets its connector's timeout; one that fails or is slow is listed in `errors` while the
others' quotes come back; 503 only when no carrier answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from api.deps import EgressDep, EngineDep, require
from domain.connectors import Connector, auth_headers
from domain.errors import Unavailable, Unprocessable
from domain.ids import new_quote_id
from domain.logistics import Pricing, PricingRequest, ProviderError, Quote, best, rates_of
from egress.http import Egress
from egress.urls import EgressError
from storage import connectors, logistics
from storage.tenants import Principal

router = APIRouter(tags=["logistics"])
Pricer = Annotated[Principal, Depends(require("logistics:write"))]
USER_AGENT = "fulfillment-partners/1"


@router.post("/v3/fulfillment/pricing/domestic", response_model=Pricing)
async def domestic_pricing(body: PricingRequest, engine: EngineDep, egress: EgressDep, p: Pricer) -> Pricing:
    """Quotes from every CARRIER connector, with the cheapest and the fastest named."""
    carriers = await run_in_threadpool(connectors.of_kind, engine, p.tenant, "CARRIER")
    if not carriers:
        raise Unprocessable.one("NO_CARRIERS", "the tenant has no connector of kind CARRIER", "serviceType")
    sent = body.model_dump(mode="json", by_alias=True)
    now = datetime.now(UTC)
    answers = await asyncio.gather(*(_ask(egress, c, sent, now) for c in carriers))
    quotes = [q for found, _ in answers for q in found]
    errors = [e for _, e in answers if e is not None]
    if len(errors) == len(carriers):
        raise Unavailable.one(
            "NO_CARRIER_ANSWERED",
            "no carrier answered: " + "; ".join(f"{e.provider}: {e.message}" for e in errors),
            "serviceType",
        )
    if quotes:
        await run_in_threadpool(logistics.keep_quotes, engine, p.tenant, sent, quotes, now)
    cheapest, fastest = best(quotes)
    return Pricing(quotes=quotes, cheapest=cheapest, fastest=fastest, errors=errors)


async def _ask(
    egress: Egress, carrier: Connector, sent: dict[str, object], now: datetime
) -> tuple[list[Quote], ProviderError | None]:
    """One carrier's quotes, or why it has none."""
    payload = json.dumps(sent, separators=(",", ":")).encode()
    headers = {
        **carrier.headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **auth_headers(carrier, new_quote_id(), payload, int(time.time())),
    }
    try:
        reply = await egress.request(
            "POST",
            carrier.base_url.rstrip("/") + "/rates",
            headers=headers,
            data=payload,
            timeout=carrier.timeout_seconds,
        )
    except EgressError as e:
        return [], ProviderError(provider=carrier.name, message=str(e))
    if not 200 <= reply.status < 300:
        return [], ProviderError(provider=carrier.name, status_code=reply.status, message=reply.text(200))
    try:
        return rates_of(carrier.name, json.loads(reply.body), now, new_quote_id), None
    except ValueError as e:
        return [], ProviderError(provider=carrier.name, status_code=reply.status, message=str(e))
