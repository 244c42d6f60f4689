"""Logistics pricing: what a client asks, what every carrier connector is asked, what comes back.

Carriers are asked concurrently, each within its connector's timeout; one that fails is listed in
`errors` beside the others' quotes. Quotes are kept, so a shipment booked later can be reconciled
against the price and the ETA it was promised.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from domain.model import CamelModel

QUOTE_VALIDITY = timedelta(minutes=30)
CODE = r"^[A-Z][A-Z0-9_]{0,39}$"


class Place(CamelModel):
    postcode: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
    city: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. `NL`.")


class Dimensions(CamelModel):
    length: float = Field(gt=0, le=10_000, strict=True)
    width: float = Field(gt=0, le=10_000, strict=True)
    height: float = Field(gt=0, le=10_000, strict=True)


class PricingRequest(CamelModel):
    origin: Place
    destination: Place
    weight_kg: float = Field(gt=0, le=100_000, strict=True)
    dimensions_cm: Dimensions
    service_type: str = Field(pattern=CODE, description="e.g. `STANDARD`, `EXPRESS`, `ECONOMY`, `SAME_DAY`.")
    rate_type: str = Field("RETAIL", pattern=CODE, description="e.g. `RETAIL` or `CONTRACT`.")


class Price(CamelModel):
    amount: float
    currency: str


class Quote(CamelModel):
    quote_id: str
    provider: str = Field(description="The carrier connector's name.")
    service_type: str
    rate_type: str
    price: Price
    eta_days: int
    expires_at: datetime


class ProviderError(CamelModel):
    provider: str
    status_code: int | None = None
    message: str


class Pricing(CamelModel):
    quotes: list[Quote]
    cheapest: str | None = Field(description="The quoteId of the lowest price (the sooner on ties).")
    fastest: str | None = Field(description="The quoteId of the fewest days (the cheaper on ties).")
    errors: list[ProviderError]


def rates_of(provider: str, body: Any, now: datetime, new_id: Any) -> list[Quote]:
    """A carrier's answer (`{"rates": [...]}`) as quotes; ValueError when it is not that shape."""
    if not isinstance(body, dict) or not isinstance(body.get("rates"), list):
        raise ValueError("the answer has no `rates` list")
    quotes = []
    for rate in body["rates"]:
        try:
            quotes.append(
                Quote(
                    quote_id=new_id(),
                    provider=provider,
                    service_type=str(rate["serviceType"]),
                    rate_type=str(rate["rateType"]),
                    price=Price(amount=float(rate["amount"]), currency=str(rate["currency"])),
                    eta_days=int(rate["etaDays"]),
                    expires_at=now + QUOTE_VALIDITY,
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"a rate without a usable {e}") from None
    return quotes


def best(quotes: list[Quote]) -> tuple[str | None, str | None]:
    """The cheapest and the fastest quote's ids."""
    if not quotes:
        return None, None
    cheapest = min(quotes, key=lambda q: (q.price.amount, q.eta_days))
    fastest = min(quotes, key=lambda q: (q.eta_days, q.price.amount))
    return cheapest.quote_id, fastest.quote_id
