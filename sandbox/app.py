"""The sandbox server: every simulated partner under one aiohttp app, each with its fault settings."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.carriers import carriers
from sandbox.faults import Faults
from sandbox.logistics import Oms, Wms
from sandbox.partner import HttpPartner
from sandbox.receiver import WebhookReceiver

RECEIVER_PATH = "/webhooks/receiver"
PARTNER_PATH = "/partners/http"  # the generic HTTP partner: a connector's baseUrl (docs/partners.md)
CARRIERS_PATH = "/carriers"  # each carrier's base URL is CARRIERS_PATH/<name> (docs/partners.md)
OMS_PATH = "/oms"  # the OMS connector's base URL
WMS_PATH = "/wms"  # the WMS connector's base URL


def create_app(webhook_secrets: list[str]) -> web.Application:
    receiver = WebhookReceiver(webhook_secrets)
    partner = HttpPartner()
    fleet = carriers()
    oms, wms = Oms(), Wms()
    partners: dict[str, Faults] = {
        "receiver": receiver.faults,
        "http": partner.faults,
        "oms": oms.faults,
        "wms": wms.faults,
        **{name: c.faults for name, c in fleet.items()},
    }
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
    # The partner's control routes, then every other path under it is one of its endpoints.
    app.router.add_post(f"{PARTNER_PATH}/script", partner.script)
    app.router.add_post(f"{PARTNER_PATH}/release", partner.release)
    app.router.add_get(f"{PARTNER_PATH}/calls", partner.list_calls)
    app.router.add_delete(f"{PARTNER_PATH}/calls", partner.clear)
    app.router.add_get(f"{PARTNER_PATH}/config", partner.get_config)
    app.router.add_post(f"{PARTNER_PATH}/config", partner.set_config)
    app.router.add_post(f"{PARTNER_PATH}/send", partner.send)
    for name, carrier in fleet.items():
        base = f"{CARRIERS_PATH}/{name}"
        app.router.add_post(f"{base}/rates", carrier.rates)
        app.router.add_post(f"{base}/webhooks", carrier.register)
        app.router.add_get(f"{base}/webhooks", carrier.list_webhooks)
        app.router.add_post(base + "/shipments/{number}/status", carrier.status)
        app.router.add_put(f"{base}/config", carrier.set_config)
    app.router.add_post(f"{OMS_PATH}/outbound-orders", oms.create)
    app.router.add_get(f"{OMS_PATH}/outbound-orders", oms.listing)
    app.router.add_post(OMS_PATH + "/outbound/{tid}/{what:confirm|reject|pgi}", oms.drive)
    app.router.add_get(f"{OMS_PATH}/config", oms.get_config)
    app.router.add_put(f"{OMS_PATH}/config", oms.set_config)
    app.router.add_post(f"{WMS_PATH}/pgi", wms.pgi)
    app.router.add_get(f"{WMS_PATH}/pgi", wms.listing)
    app.router.add_put(f"{WMS_PATH}/config", wms.set_config)
    app.router.add_route("*", PARTNER_PATH + "/{path:.*}", partner.endpoint)
    app.on_shutdown.append(partner.on_shutdown)
    app.on_shutdown.append(oms.on_shutdown)
    return app
