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

from tests.inbox import Inbox


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
    inbox: Inbox[Delivery] = field(default_factory=Inbox)
    hold: asyncio.Event | None = None  # when set, requests are answered only once it is set

    @property
    def received(self) -> list[Delivery]:
        return self.inbox.items

    async def wait_for(self, count: int, within: float = 30, accepted_only: bool = True) -> list[Delivery]:
        """Wait until `count` deliveries arrived (accepted ones by default); fail after `within` seconds."""
        wanted = (lambda d: 200 <= d.answered < 300) if accepted_only else (lambda _: True)
        return await self.inbox.wait_for(count, within, wanted)


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
        delivery = Delivery(headers.get("webhook-id", ""), json.loads(raw), headers, status, verified)
        await ep.inbox.add(delivery)
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
