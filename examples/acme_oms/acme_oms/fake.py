"""A stand-in Acme OMS: takes shipping orders once per `Idempotency-Key`, keeps what it was sent, and
signs its events with the secret it is configured with, posting them where it is told."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.partner import post_signed


@dataclass
class FakeAcme:
    events_url: str = ""
    secret: str = ""
    orders: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v2/shipping-orders", self.create)
        return app

    async def create(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        if key not in self.answers:
            self.orders.append(await request.json())
            self.answers[key] = {"orderNumber": f"A-{len(self.orders):05d}", "state": "NEW"}
        return web.json_response(self.answers[key], status=201)

    async def send(self, event: str, external_id: str, **details: Any) -> int:
        """Post an Acme event, signed: the orchestrator's answer status."""
        body = {"event": event, "externalId": external_id, "details": details}
        status, _ = await post_signed(self.events_url, self.secret, body)
        return status
