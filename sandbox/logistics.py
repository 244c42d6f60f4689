"""The sandbox OMS and WMS, following their contracts in docs/partners.md, each with fault injection.

The OMS takes outbound orders once per `Idempotency-Key` and confirms them itself (unless told
otherwise), signing its events with the secret its connector gave; the goods issue (PGI) is driven by
hand: `POST /oms/outbound/{trackingIdShipper}/pgi`. The WMS takes PGIs once per key. Both list what
they received, so a test (or a person) can see each intent arrived once.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.faults import Faults
from sandbox.partner import json_object, post_signed, valid_secret


def _answer(body: Any, status: int = 200, replay: bool = False) -> web.Response:
    return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"} if replay else None)


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _keyed(faults: Faults, request: web.Request) -> tuple[str, dict[str, Any]] | web.Response:
    """An outbound's request to a partner, after its faults: its `Idempotency-Key` and body (naming a
    `trackingIdShipper`, with `items`), or the answer that refuses it."""
    failure = await faults.apply()
    if failure is not None:
        return failure
    key = request.headers.get("Idempotency-Key")
    if not key:
        return _error("Idempotency-Key is required")
    try:
        body = await json_object(request)
        if not isinstance(body.get("trackingIdShipper"), str) or not isinstance(body.get("items"), list):
            raise ValueError("trackingIdShipper and items are required")
    except ValueError as e:
        return _error(f"bad request: {e}")
    return key, body


@dataclass
class Oms:
    faults: Faults = field(default_factory=Faults)
    events_url: str | None = None  # the orchestrator's /partners/{connectorId}/events
    secret: str | None = None  # the connector's inbound secret
    auto_confirm: bool = True
    reject_skus: set[str] = field(default_factory=set)  # an order with one of these is rejected
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # by trackingIdShipper
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # by Idempotency-Key
    requests: list[dict[str, Any]] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def create(self, request: web.Request) -> web.Response:
        """`POST /oms/outbound-orders`: the outbound, once per key → 201 `{omsOrderId, status}`."""
        keyed = await _keyed(self.faults, request)
        if isinstance(keyed, web.Response):
            return keyed
        key, body = keyed
        tid = body["trackingIdShipper"]
        replay = key in self.answers
        self.requests.append({"idempotencyKey": key, "trackingIdShipper": tid, "replay": replay})
        if replay:
            return _answer(self.answers[key], 201, replay=True)
        answer = {"omsOrderId": f"OMS-{next(self._numbers):06d}", "status": "CREATED"}
        self.answers[key] = answer
        self.orders[tid] = {**body, **answer, "events": []}
        if self.auto_confirm and self.events_url and self.secret:
            rejected = sorted(
                {str(i.get("sku")) for i in body["items"] if isinstance(i, dict)} & self.reject_skus
            )
            if rejected:
                event = {"type": "outbound.rejected", "data": {"reason": f"unknown SKUs {rejected}"}}
            else:
                event = {"type": "outbound.confirmed", "data": {}}
            task = asyncio.create_task(self._send(tid, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return _answer(answer, 201)

    async def drive(self, request: web.Request) -> web.Response:
        """`POST /oms/outbound/{trackingIdShipper}/{confirm|reject|pgi}`: send that event now."""
        tid, what = request.match_info["tid"], request.match_info["what"]
        order = self.orders.get(tid)
        if order is None:
            return _error(f"the OMS has no outbound {tid!r}", 404)
        if not (self.events_url and self.secret):
            return _error("configure eventsUrl and secret first (PUT /oms/config)", 409)
        try:
            body = await json_object(request)
        except ValueError as e:
            return _error(str(e))
        if what == "confirm":
            event: dict[str, Any] = {"type": "outbound.confirmed", "data": {}}
        elif what == "reject":
            event = {"type": "outbound.rejected", "data": {"reason": str(body.get("reason") or "rejected")}}
        else:
            data: dict[str, Any] = {
                "items": body.get("items")
                or [{"sku": i["sku"], "quantity": i["quantity"]} for i in order["items"]],
                "issuedAt": body.get("issuedAt") or datetime.now(UTC).isoformat(),
            }
            if body.get("carrier"):
                data["carrier"] = body["carrier"]
                data["trackingNumber"] = body.get("trackingNumber") or f"TRK{next(self._numbers):09d}"
            event = {"type": "outbound.pgi", "data": data}
        try:
            return web.json_response(await self._send(tid, event, body.get("messageId")))
        except (aiohttp.ClientError, TimeoutError) as e:
            return _error(f"could not reach {self.events_url}: {e}", 502)

    async def _send(self, tid: str, event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
        order = self.orders[tid]
        event = {**event, "reference": tid, "data": {**event["data"], "omsOrderId": order["omsOrderId"]}}
        assert self.events_url and self.secret
        status, text = await post_signed(self.events_url, self.secret, event, message_id)
        sent = {"type": event["type"], "data": event["data"], "status": status, "body": text}
        order["events"].append(sent)
        return sent

    async def listing(self, _: web.Request) -> web.Response:
        return web.json_response({"orders": list(self.orders.values()), "requests": self.requests})

    def config_json(self) -> dict[str, Any]:
        return {
            "eventsUrl": self.events_url,
            "secretSet": self.secret is not None,
            "autoConfirm": self.auto_confirm,
            "rejectSkus": sorted(self.reject_skus),
        }

    async def get_config(self, _: web.Request) -> web.Response:
        return web.json_response(self.config_json())

    async def set_config(self, request: web.Request) -> web.Response:
        """`PUT /oms/config {eventsUrl?, secret?, autoConfirm?, rejectSkus?}`."""
        try:
            body = await json_object(request)
            url, secret = body.get("eventsUrl", self.events_url), body.get("secret", self.secret)
            auto, skus = (
                body.get("autoConfirm", self.auto_confirm),
                body.get("rejectSkus", sorted(self.reject_skus)),
            )
            if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
                raise ValueError("eventsUrl must be an http(s) URL")
            if secret is not None and (not isinstance(secret, str) or not valid_secret(secret)):
                raise ValueError("secret must be a whsec_ string")
            if not isinstance(auto, bool):
                raise ValueError("autoConfirm must be true or false")
            if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
                raise ValueError("rejectSkus must be a list of strings")
        except ValueError as e:
            return _error(str(e))
        self.events_url, self.secret, self.auto_confirm, self.reject_skus = url, secret, auto, set(skus)
        return web.json_response(self.config_json())

    async def on_shutdown(self, _: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()


@dataclass
class Wms:
    faults: Faults = field(default_factory=Faults)
    refuse: str | None = None  # a reason: every PGI answered 422 with it
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def pgi(self, request: web.Request) -> web.Response:
        """`POST /wms/pgi`: a goods issue, once per key → 201 `{pgiId, status: ACCEPTED}`."""
        keyed = await _keyed(self.faults, request)
        if isinstance(keyed, web.Response):
            return keyed
        key, body = keyed
        replay = key in self.answers
        self.requests.append(
            {"idempotencyKey": key, "trackingIdShipper": body["trackingIdShipper"], "replay": replay}
        )
        if replay:
            return _answer(self.answers[key], 201, replay=True)
        if self.refuse:
            return _error(self.refuse, 422)
        answer = {"pgiId": f"PGI-{next(self._numbers):06d}", "status": "ACCEPTED"}
        self.answers[key] = answer
        self.received.append({**body, **answer})
        return _answer(answer, 201)

    async def listing(self, _: web.Request) -> web.Response:
        return web.json_response({"pgi": self.received, "requests": self.requests})

    async def set_config(self, request: web.Request) -> web.Response:
        """`PUT /wms/config {refuse?: reason | null}`."""
        try:
            body = await json_object(request)
            refuse = body.get("refuse", self.refuse)
            if refuse is not None and not isinstance(refuse, str):
                raise ValueError("refuse must be a reason or null")
        except ValueError as e:
            return _error(str(e))
        self.refuse = refuse
        return web.json_response({"refuse": self.refuse})
