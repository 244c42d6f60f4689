"""A loopback webhook receiver for tests: verifies every delivery with the `standardwebhooks` library.

Each endpoint (`/hooks/{name}`) has a script of responses to give, in order (the last one repeats),
and records what it received, verified or not.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    answered: int
    verified_with: list[str]


@dataclass
class Endpoint:
    script: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    secrets: list[str] = field(default_factory=list)
    received: list[Delivery] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    hold: asyncio.Event | None = None  # when set, requests are answered only once it is set

    def accepted(self) -> list[Delivery]:
        return [d for d in self.received if 200 <= d.answered < 300]

    async def wait_for(self, count: int, within: float = 30, accepted_only: bool = True) -> list[Delivery]:
        """Wait until `count` deliveries arrived (accepted ones by default); fail after `within` seconds."""

        def enough() -> bool:
            return len(self.accepted() if accepted_only else self.received) >= count

        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(enough)
        return self.accepted() if accepted_only else self.received


class Receiver:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.base = ""
        self._runner: web.AppRunner | None = None

    def endpoint(self, name: str, secret: str | None = None, script: list[int] | None = None) -> Endpoint:
        ep = Endpoint(
            script=[(s, {}) for s in script] if script else [(200, {})], secrets=[secret] if secret else []
        )
        self.endpoints[name] = ep
        return ep

    def url(self, name: str) -> str:
        return f"{self.base}/hooks/{name}"

    async def _handle(self, request: web.Request) -> web.Response:
        ep = self.endpoints.get(request.match_info["name"])
        if ep is None:
            return web.Response(status=404)
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = []
        for secret in ep.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                verified.append(secret)
            except WebhookVerificationError:
                pass
        status, extra = ep.script.pop(0) if len(ep.script) > 1 else ep.script[0]
        if ep.secrets and not verified:
            status = 401
        async with ep.arrived:
            ep.received.append(
                Delivery(headers.get("webhook-id", ""), json.loads(raw), headers, status, verified)
            )
            ep.arrived.notify_all()
        if ep.hold is not None:
            await ep.hold.wait()
        return web.Response(status=status, text=f"answered {status}", headers=extra)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
