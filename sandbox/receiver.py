"""The client-platform webhook receiver: verifies Standard Webhooks signatures and lists what came.

What a partner's endpoint would do with our webhooks, so a newcomer sees signed deliveries arrive.
"""

from __future__ import annotations

import hmac
import json
import time
from collections import deque
from typing import Any

from aiohttp import web

from domain.signing import sign
from sandbox.faults import Faults

TOLERANCE_SECONDS = 300


class WebhookReceiver:
    def __init__(self, secrets: list[str], keep: int = 1000) -> None:
        self.secrets = list(secrets)
        self.received: deque[dict[str, Any]] = deque(maxlen=keep)
        self.faults = Faults()

    def verify(self, headers: Any, body: bytes) -> tuple[bool, str]:
        message_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "").split()
        if not (message_id and stamp.isdigit() and signatures):
            return False, "missing webhook-id, webhook-timestamp or webhook-signature"
        if abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            return False, "timestamp outside the 5 minute tolerance"
        for secret in self.secrets:
            expected = sign(secret, message_id, int(stamp), body)
            if any(hmac.compare_digest(expected, s) for s in signatures):
                return True, "ok"
        return False, "no signature matches a known secret"

    async def receive(self, request: web.Request) -> web.Response:
        failure = await self.faults.apply()
        if failure is not None:
            return failure
        body = await request.read()
        verified, why = self.verify(request.headers, body)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        self.received.append(
            {
                "receivedAt": time.time(),
                "webhookId": request.headers.get("webhook-id"),
                "verified": verified,
                "verification": why,
                "type": payload.get("type") if isinstance(payload, dict) else None,
                "body": payload,
            }
        )
        return web.Response(status=204) if verified else web.json_response({"error": why}, status=401)

    async def list_received(self, request: web.Request) -> web.Response:
        limit = request.query.get("limit", "100")
        if not limit.isdigit():
            return web.json_response({"error": "limit must be a whole number"}, status=400)
        return web.json_response(list(self.received)[-int(limit) :])

    async def add_secret(self, request: web.Request) -> web.Response:
        body = await request.json()
        secret = body.get("secret") if isinstance(body, dict) else None
        if not isinstance(secret, str) or not secret.startswith("whsec_"):
            return web.json_response({"error": "secret must be a whsec_ string"}, status=400)
        self.secrets.append(secret)
        return web.json_response({"secrets": len(self.secrets)}, status=201)
