"""The sandbox's generic HTTP partner over real sockets: scripts, keys, holds, faults, auth, events."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.signing import sign, signature_header
from sandbox.app import PARTNER_PATH, RECEIVER_PATH, create_app
from storage.webhooks import new_secret
from tests.support import free_port

SECRET = new_secret()
ORDERS = "/outbound-orders"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


@pytest.fixture
async def sandbox() -> AsyncIterator[str]:
    runner, url = await serve(create_app([SECRET]))
    yield url
    await runner.cleanup()


@pytest.fixture
def partner(sandbox: str) -> str:
    return sandbox + PARTNER_PATH


async def call(
    http: aiohttp.ClientSession,
    url: str,
    method: str = "POST",
    body: Any = None,
    key: str | None = None,
    **headers: str,
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    if key is not None:
        headers["Idempotency-Key"] = key
    async with http.request(method, url, json=body, headers=headers) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None, r.headers


async def calls(http: aiohttp.ClientSession, partner: str, **query: str | int) -> list[dict[str, Any]]:
    async with http.get(partner + "/calls", params={k: str(v) for k, v in query.items()}) as r:
        assert r.status == 200
        got: list[dict[str, Any]] = await r.json()
        return got


async def script(
    http: aiohttp.ClientSession, partner: str, path: str, responses: list[dict[str, Any]]
) -> None:
    async with http.post(partner + "/script", json={"path": path, "responses": responses}) as r:
        assert r.status == 201, await r.text()
        assert await r.json() == {"path": path, "pending": len(responses)}


async def test_scripted_answers_come_in_order_then_the_default(
    partner: str, http: aiohttp.ClientSession
) -> None:
    await script(
        http,
        partner,
        ORDERS,
        [
            {"status": 500, "headers": {"Retry-After": "1"}},
            {"status": 500},
            {"status": 200, "body": {"orderId": "po-1"}, "headers": {"X-Partner": "yes"}},
        ],
    )
    body = {"sku": "A-1", "quantity": 2}
    # The product retries one intent with one key: failures do not use the key up.
    first = await call(http, partner + ORDERS, body=body, key="ses_1:2:0")
    second = await call(http, partner + ORDERS, body=body, key="ses_1:2:0")
    third = await call(http, partner + ORDERS, body=body, key="ses_1:2:0")
    assert (first[0], first[2].get("Retry-After")) == (500, "1")
    assert second[0] == 500
    assert (third[0], third[1], third[2].get("X-Partner")) == (200, {"orderId": "po-1"}, "yes")
    # The script is spent: the default answer, its id derived from the key.
    other = await call(http, partner + ORDERS, body=body, key="ses_2:2:0")
    again = await call(http, partner + ORDERS, body=body, key="ses_2:2:0")
    assert other[0] == 200 and other[1]["received"] == body and other[1]["id"].startswith("ext_")
    assert again[1] == other[1]
    # A scripted success is the key's answer from then on.
    replay = await call(http, partner + ORDERS, body=body, key="ses_1:2:0")
    assert (replay[0], replay[1], replay[2].get("Idempotent-Replayed")) == (200, {"orderId": "po-1"}, "true")
    got = await calls(http, partner, path=ORDERS)
    assert [(c["status"], c["replay"]) for c in got] == [
        (500, False),
        (500, False),
        (200, False),
        (200, False),
        (200, True),
        (200, True),
    ]


async def test_a_repeated_key_answers_the_first_answer_as_a_replay(
    partner: str, http: aiohttp.ClientSession
) -> None:
    status, first, _ = await call(http, partner + ORDERS, body={"n": 1}, key="k-1")
    assert status == 200 and first["received"] == {"n": 1}
    status, second, headers = await call(http, partner + ORDERS, body={"n": 2}, key="k-1")
    assert (status, second, headers.get("Idempotent-Replayed")) == (200, first, "true")
    # The memory is per method and path; without a key every request is new.
    _, put, _ = await call(http, partner + ORDERS, "PUT", body={"n": 3}, key="k-1")
    _, elsewhere, _ = await call(http, partner + "/returns", body={"n": 4}, key="k-1")
    assert put["received"] == {"n": 3} and elsewhere["received"] == {"n": 4}
    _, a, _ = await call(http, partner + "/returns", body={})
    _, b, _ = await call(http, partner + "/returns", body={})
    assert a["id"] != b["id"]
    got = await calls(http, partner, path=ORDERS)
    assert [(c["method"], c["idempotencyKey"], c["replay"]) for c in got] == [
        ("POST", "k-1", False),
        ("POST", "k-1", True),
        ("PUT", "k-1", False),
    ]
    assert got[1]["body"] == {"n": 2} and got[1]["answer"] == first
    effects = [c for c in got if c["method"] == "POST" and not c["replay"]]
    assert len(effects) == 1


async def test_calls_are_listed_oldest_first_and_cleared(partner: str, http: aiohttp.ClientSession) -> None:
    await script(http, partner, ORDERS, [{"status": 503}, {"status": 503}])
    await call(http, partner + ORDERS, body={"a": 1}, key="k-2", Authorization="Bearer anything")
    await call(http, partner + "/stock?sku=A-1", "GET")
    await call(http, partner + ORDERS + "/po-1", "DELETE", key="k-3")
    got = await calls(http, partner)
    assert [(c["method"], c["path"], c["status"]) for c in got] == [
        ("POST", ORDERS, 503),
        ("GET", "/stock", 200),
        ("DELETE", ORDERS + "/po-1", 200),
    ]
    assert [c["seq"] for c in got] == sorted(c["seq"] for c in got)
    assert got[0]["headers"]["idempotency-key"] == "k-2"
    assert got[0]["headers"]["authorization"] == "Bearer anything"
    assert got[0]["headers"]["content-type"] == "application/json"
    assert got[0]["body"] == {"a": 1} and got[1]["query"] == "sku=A-1" and got[1]["body"] is None
    assert [c["path"] for c in await calls(http, partner, path=ORDERS)] == [ORDERS]
    # A control route's path is not an endpoint, whatever the method.
    async with http.put(partner + "/calls", json={}) as r:
        assert r.status == 405
    async with http.delete(partner + "/calls") as r:
        assert await r.json() == {"cleared": 3, "released": 0}
    assert await calls(http, partner) == []
    # The script's second 503 is gone with it, and the keys' memory.
    assert (await call(http, partner + ORDERS + "/po-1", "DELETE", key="k-3"))[0] == 200
    assert (await call(http, partner + ORDERS, body={"a": 1}, key="k-2"))[0] == 200
    assert [(c["status"], c["replay"]) for c in await calls(http, partner)] == [(200, False), (200, False)]


async def test_a_held_request_is_answered_once_released(partner: str, http: aiohttp.ClientSession) -> None:
    await script(http, partner, ORDERS, [{"status": 201, "hold": True, "body": {"orderId": "po-9"}}])
    pending = asyncio.create_task(call(http, partner + ORDERS, body={"a": 1}, key="k-9"))
    held = await calls(http, partner, path=ORDERS, atLeast=1, waitMs=10_000)
    assert [(c["status"], c["held"]) for c in held] == [(201, True)]
    assert not pending.done()
    # The effect happened when it arrived: a retry while it is held gets the same answer at once.
    retry = await call(http, partner + ORDERS, body={"a": 1}, key="k-9")
    assert (retry[0], retry[1]) == (201, {"orderId": "po-9"})
    async with http.post(partner + "/release") as r:
        assert await r.json() == {"released": 1}
    status, body, _ = await asyncio.wait_for(pending, 10)
    assert (status, body) == (201, {"orderId": "po-9"})
    first = (await calls(http, partner, path=ORDERS))[0]
    assert first["clientGone"] is False and first["answeredAt"] >= first["receivedAt"]
    async with http.post(partner + "/release") as r:
        assert await r.json() == {"released": 0}


async def test_a_held_request_whose_client_left_does_not_break_the_partner(
    partner: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    await script(http, partner, ORDERS, [{"status": 200, "hold": True}])
    caplog.set_level(logging.WARNING)
    async with aiohttp.ClientSession() as doomed:
        pending = asyncio.create_task(call(doomed, partner + ORDERS, body={}, key="k-gone"))
        await calls(http, partner, path=ORDERS, atLeast=1, waitMs=10_000)
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
    async with http.post(partner + "/release") as r:
        assert await r.json() == {"released": 1}  # answers once the held request was answered
    held = (await calls(http, partner, path=ORDERS))[0]
    assert "answeredAt" in held and isinstance(held["clientGone"], bool)
    assert (await call(http, partner + ORDERS, body={}, key="k-gone"))[0] == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_down_answers_as_the_receiver_does(
    sandbox: str, partner: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(sandbox + "/health") as r:
        assert "http" in (await r.json())["partners"]
    for name in ("http", "receiver"):
        async with http.put(sandbox + f"/faults/{name}", json={"down": True}) as r:
            assert r.status == 200 and (await r.json())["down"] is True
    down = await call(http, partner + ORDERS, body={}, key="k-down")
    async with http.post(sandbox + RECEIVER_PATH, data=b"{}") as r:
        assert (
            (down[0], down[1])
            == (r.status, await r.json())
            == (503, {"error": "partner is down (sandbox fault)"})
        )
    async with http.put(sandbox + "/faults/http", json={"down": False}) as r:
        assert r.status == 200
    # A fault is no effect: the key answers afresh once the partner is back.
    up = await call(http, partner + ORDERS, body={}, key="k-down")
    assert up[0] == 200
    assert [(c["status"], c["fault"], c["replay"]) for c in await calls(http, partner)] == [
        (503, True, False),
        (200, False, False),
    ]


async def test_auth_expectations_refuse_wrong_credentials(partner: str, http: aiohttp.ClientSession) -> None:
    async def config(body: dict[str, Any]) -> int:
        async with http.post(partner + "/config", json=body) as r:
            return r.status

    assert await config({"bearer": "tok"}) == 200
    assert (await call(http, partner + ORDERS, body={}))[0] == 401
    assert (await call(http, partner + ORDERS, body={}, Authorization="Bearer nope"))[0] == 401
    assert (await call(http, partner + ORDERS, body={}, Authorization="Bearer tok"))[0] == 200

    assert await config({"basic": ["u", "p"]}) == 200
    wrong, right = (base64.b64encode(pair).decode() for pair in (b"u:x", b"u:p"))
    assert (await call(http, partner + ORDERS, body={}, Authorization=f"Basic {wrong}"))[0] == 401
    assert (await call(http, partner + ORDERS, body={}, Authorization=f"Basic {right}"))[0] == 200

    assert await config({"standardWebhooksSecret": SECRET}) == 200
    raw = json.dumps({"sku": "A-1"}).encode()

    async def post_signed(secret: str, stamp: int) -> int:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": "ses_1:1:0",
            "webhook-id": "ses_1:1:0",
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header([secret], "ses_1:1:0", stamp, raw),
        }
        async with http.post(partner + ORDERS, data=raw, headers=headers) as r:
            return r.status

    now = int(time.time())
    assert await post_signed(new_secret(), now) == 401
    assert await post_signed(SECRET, now - 3600) == 401
    assert await post_signed(SECRET, now) == 200

    assert await config({}) == 200
    assert (await call(http, partner + ORDERS, body={}))[0] == 200
    assert await config({"bearer": "a", "basic": ["u", "p"]}) == 400
    assert await config({"standardWebhooksSecret": "not-a-secret"}) == 400
    got = await calls(http, partner)
    assert [c["status"] for c in got] == [401, 401, 200, 401, 200, 401, 401, 200, 200]
    assert got[1]["auth"] == {"expected": "bearer", "ok": False, "why": "missing or wrong bearer token"}
    assert got[6]["auth"]["why"] == "timestamp outside the 5 minute tolerance"
    assert got[8]["auth"] is None
    # A refusal is no effect: the signed request's key was first answered on the last try.
    assert [c["replay"] for c in got if c["idempotencyKey"] == "ses_1:1:0"] == [False, False, False]


@pytest.fixture
async def orchestrator() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A stand-in for the orchestrator's partner events endpoint: it keeps what arrives, answers 202."""
    got: list[tuple[str, dict[str, str], bytes]] = []

    async def events(request: web.Request) -> web.Response:
        got.append((request.match_info["connector"], dict(request.headers), await request.read()))
        return web.json_response({"accepted": True}, status=202)

    app = web.Application()
    app.router.add_post("/partners/{connector}/events", events)
    runner, url = await serve(app)
    yield url, got
    await runner.cleanup()


async def test_send_signs_events_that_verify_unless_told_not_to(
    partner: str,
    http: aiohttp.ClientSession,
    orchestrator: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    base, got = orchestrator
    url = f"{base}/partners/con_1/events"
    event = {"type": "shipment.dispatched", "reference": "ORD-1", "data": {"carrier": "dhl"}}
    async with http.post(
        partner + "/send", json={"url": url, "secret": SECRET, "messageId": "msg_1", **event}
    ) as r:
        assert await r.json() == {"status": 202, "body": '{"accepted": true}', "messageId": "msg_1"}
    connector, headers, raw = got[0]
    assert connector == "con_1" and json.loads(raw) == event
    assert headers["webhook-id"] == "msg_1" and headers["Content-Type"] == "application/json"
    assert Webhook(SECRET).verify(raw, headers) == event  # an independent implementation agrees
    assert headers["webhook-signature"] == sign(SECRET, "msg_1", int(headers["webhook-timestamp"]), raw)

    stamp = int(time.time()) - 10
    async with http.post(
        partner + "/send",
        json={"url": url, "secret": SECRET, "type": "x.y", "badSignature": True, "timestamp": stamp},
    ) as r:
        sent = await r.json()
    assert sent["status"] == 202 and sent["messageId"].startswith("msg_")
    _, headers, raw = got[1]
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == (sent["messageId"], str(stamp))
    assert json.loads(raw) == {"type": "x.y"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(raw, headers)

    async with http.post(partner + "/send", json={"url": url, "secret": "nope", "type": "x.y"}) as r:
        assert r.status == 400 and "secret" in (await r.json())["error"]
    nobody = f"http://127.0.0.1:{free_port()}/partners/con_1/events"
    async with http.post(partner + "/send", json={"url": nobody, "secret": SECRET, "type": "x.y"}) as r:
        assert r.status == 502
    assert len(got) == 2
