"""The sandbox server: every simulated partner under one aiohttp app, each with its fault settings."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.faults import Faults
from sandbox.receiver import WebhookReceiver

RECEIVER_PATH = "/webhooks/receiver"


def create_app(webhook_secrets: list[str]) -> web.Application:
    receiver = WebhookReceiver(webhook_secrets)
    partners: dict[str, Faults] = {"receiver": receiver.faults}
    app = web.Application()

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "partners": sorted(partners)})

    async def get_faults(request: web.Request) -> web.Response:
        faults = partners.get(request.match_info["partner"])
        if faults is None:
            return web.json_response({"error": f"no partner; known: {sorted(partners)}"}, status=404)
        return web.json_response(faults.as_json())

    async def put_faults(request: web.Request) -> web.Response:
        faults = partners.get(request.match_info["partner"])
        if faults is None:
            return web.json_response({"error": f"no partner; known: {sorted(partners)}"}, status=404)
        try:
            body: Any = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            faults.update(body)
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response(faults.as_json())

    app.router.add_get("/health", health)
    app.router.add_get("/faults/{partner}", get_faults)
    app.router.add_put("/faults/{partner}", put_faults)
    app.router.add_post(RECEIVER_PATH, receiver.receive)
    app.router.add_post(f"{RECEIVER_PATH}/secrets", receiver.add_secret)
    app.router.add_get("/received", receiver.list_received)
    return app
