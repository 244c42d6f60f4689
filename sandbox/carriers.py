"""Sandbox carriers: two parcel carriers with their own prices and speeds, following the carrier
contract in docs/partners.md (`POST {carrier}/rates`), each with fault injection.

`swift` is quick and dear, `budget` slow and cheap; both price from weight and volume (a
volumetric weight of length x width x height / 5,000), so a request always has an answer to check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.faults import Faults


@dataclass
class Carrier:
    name: str
    services: dict[str, tuple[float, float, int]]  # service -> (base, per kg, days)
    currency: str = "EUR"
    faults: Faults = field(default_factory=Faults)
    asked: int = 0

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


def carriers() -> dict[str, Carrier]:
    return {
        "swift": Carrier(
            "swift", {"STANDARD": (7.5, 1.2, 2), "EXPRESS": (12.0, 1.8, 1), "SAME_DAY": (24.0, 2.5, 0)}
        ),
        "budget": Carrier("budget", {"ECONOMY": (3.9, 0.6, 5), "STANDARD": (4.9, 0.8, 3)}),
    }
