"""Process steps that call partners and wait for them, over HTTP against real Temporal and a loopback
partner (the sandbox's generic HTTP partner)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from clients.sessions import SessionClient
from config.settings import Settings
from domain.process import validate_definition
from domain.session import ActionRequest, SessionStart
from sandbox.app import PARTNER_PATH, create_app
from storage import sessions
from storage.webhooks import new_secret
from tests.end_to_end.test_durability import polling, spawn_worker
from tests.support import ApiClient, eventually, loopback


@pytest.fixture(scope="session")
async def partner() -> AsyncIterator[str]:
    """The sandbox's generic HTTP partner on a loopback port: its base URL."""
    async with loopback(create_app([])) as url:
        yield url


def process(steps: list[dict[str, Any]], waiting: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """NEW (with `steps`) -> DONE | FAILED; `wait` leads from NEW to WAITING (with `waiting`)."""
    return {
        "type": f"P_{uuid.uuid4().hex[:8].upper()}",
        "states": [
            {"name": "NEW", "steps": steps},
            {"name": "WAITING", "steps": waiting or []},
            {"name": "DONE"},
            {"name": "FAILED"},
        ],
        "initialState": "NEW",
        "terminalStates": ["DONE", "FAILED"],
        "transitions": [
            {"from": "NEW", "action": "succeed", "to": "DONE"},
            {"from": "NEW", "action": "fail", "to": "FAILED"},
            {"from": "NEW", "action": "wait", "to": "WAITING"},
            {"from": "WAITING", "action": "succeed", "to": "DONE"},
            {"from": "WAITING", "action": "fail", "to": "FAILED"},
        ],
    }


async def connector(api: ApiClient, partner: str, name: str = "oms") -> dict[str, Any]:
    body = {
        "name": name,
        "kind": "OMS",
        "baseUrl": partner + PARTNER_PATH,
        "auth": {"type": "bearer", "token": "tok-1"},
    }
    created: dict[str, Any] = await api.ok("POST", "/connectors", body, 201)
    return created


async def start(api: ApiClient, definition: dict[str, Any], reference: str | None = None) -> str:
    await api.ok("POST", "/processes", definition, 201)
    body = {
        "processType": definition["type"],
        "cartId": f"cart-{uuid.uuid4().hex[:6]}",
        "reference": reference,
    }
    started = await api.ok("POST", "/sessions", {k: v for k, v in body.items() if v is not None}, 201)
    return str(started["id"])


async def status_is(api: ApiClient, session_id: str, status: str) -> None:
    async def check() -> bool:
        return (await api.ok("GET", f"/sessions/{session_id}"))["status"] == status

    await eventually(check, what=f"session {session_id} in {status}")


async def script(
    http: aiohttp.ClientSession, partner: str, path: str, responses: list[dict[str, Any]]
) -> None:
    async with http.post(f"{partner}{PARTNER_PATH}/script", json={"path": path, "responses": responses}) as r:
        assert r.status == 201, await r.text()


async def calls_to(http: aiohttp.ClientSession, partner: str, path: str) -> list[dict[str, Any]]:
    async with http.get(f"{partner}{PARTNER_PATH}/calls", params={"path": path}) as r:
        body = await r.json()
        return list(body["calls"] if isinstance(body, dict) else body)


def call_step(path: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "call",
        "connector": "oms",
        "path": path,
        "body": {"ref": "{{session.reference}}", "cart": "{{session.cartId}}"},
        "resultKey": "oms",
        "onSuccess": "succeed",
        "onFailure": "fail",
        **extra,
    }


async def test_a_call_retried_through_two_500s_succeeds_with_one_idempotency_key(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    await connector(api, partner)
    path = f"/orders-{uuid.uuid4().hex[:6]}"
    await script(
        http,
        partner,
        path,
        [{"status": 500}, {"status": 500}, {"status": 201, "body": {"omsOrderId": "O-1"}}],
    )
    session_id = await start(api, process([call_step(path)]), reference="REF-1")

    await status_is(api, session_id, "DONE")
    seen = await calls_to(http, partner, path)
    assert [c["status"] for c in seen] == [500, 500, 201]
    assert len({c["idempotencyKey"] for c in seen}) == 1 and seen[0]["idempotencyKey"].startswith(session_id)
    assert all(c["headers"].get("authorization") == "Bearer tok-1" for c in seen)
    assert seen[-1]["body"]["ref"] == "REF-1"
    view = await api.ok("GET", f"/sessions/{session_id}")
    assert view["context"]["oms"] == {"omsOrderId": "O-1"}
    attempts = await api.ok("GET", f"/sessions/{session_id}/calls")
    assert [(a["attempt"], a["outcome"], a["statusCode"]) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "succeeded", 201),
    ]
    trail = await api.ok("GET", f"/carts/{view['cartId']}/revisions")
    assert (trail[-1]["action"], trail[-1]["actor"]) == ("succeed", "system:call")


async def test_a_refusal_takes_on_failure_at_once_and_the_calls_say_why(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    await connector(api, partner)
    path = f"/orders-{uuid.uuid4().hex[:6]}"
    await script(http, partner, path, [{"status": 422, "body": {"error": "unknown sku X-9"}}])
    session_id = await start(api, process([call_step(path)]))

    await status_is(api, session_id, "FAILED")
    assert len(await calls_to(http, partner, path)) == 1
    (attempt,) = await api.ok("GET", f"/sessions/{session_id}/calls")
    assert (attempt["outcome"], attempt["statusCode"]) == ("refused", 422)
    assert "unknown sku X-9" in attempt["responseExcerpt"]
    view = await api.ok("GET", f"/sessions/{session_id}")
    trail = await api.ok("GET", f"/carts/{view['cartId']}/revisions")
    assert "422" in trail[-1]["data"]["reason"]


async def test_a_call_for_a_connector_deleted_meanwhile_fails_the_step(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    created = await connector(api, partner)
    definition = process([], [call_step("/never")])
    session_id = await start(api, definition)  # on the version that calls `oms`
    await api.ok(
        "POST",
        "/processes",
        {**definition, "states": [{"name": s} for s in ("NEW", "WAITING", "DONE", "FAILED")]},
        201,
    )
    await api.ok("DELETE", f"/connectors/{created['id']}", status=204)  # no latest version calls it now
    await api.ok("POST", f"/sessions/{session_id}/actions", {"action": "wait"})
    await status_is(api, session_id, "FAILED")
    assert await calls_to(http, partner, "/never") == []
    (attempt,) = await api.ok("GET", f"/sessions/{session_id}/calls")
    assert (attempt["outcome"], attempt["error"]) == ("refused", "no connector named 'oms'")


async def send(
    http: aiohttp.ClientSession, partner: str, api: ApiClient, created: dict[str, Any], **event: Any
) -> dict[str, Any]:
    url = f"{api.base}/partners/{created['id']}/events"
    async with http.post(
        f"{partner}{PARTNER_PATH}/send", json={"url": url, "secret": created["inboundSecret"], **event}
    ) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


AWAIT = [{"kind": "await", "event": "partner.done", "action": "succeed"}]


async def test_an_await_is_satisfied_by_a_signed_event_and_refuses_a_bad_one(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    created = await connector(api, partner)
    reference = f"REF-{uuid.uuid4().hex[:6]}"
    session_id = await start(api, process(AWAIT), reference=reference)

    bad = await send(http, partner, api, created, type="partner.done", reference=reference, badSignature=True)
    assert bad["status"] == 401
    stale = await send(
        http, partner, api, created, type="partner.done", reference=reference, timestamp=1_000_000
    )
    assert stale["status"] == 401
    shapeless = await send(http, partner, api, created, type="Not A Type", reference=reference)
    assert shapeless["status"] == 400 and '"field":"type"' in shapeless["body"].replace(" ", "")
    assert (await api.ok("GET", f"/sessions/{session_id}"))["status"] == "NEW"

    good = await send(http, partner, api, created, type="partner.done", reference=reference, data={"n": 1})
    assert good["status"] == 202, good
    await status_is(api, session_id, "DONE")
    view = await api.ok("GET", f"/sessions/{session_id}")
    trail = await api.ok("GET", f"/carts/{view['cartId']}/revisions")
    assert (trail[-1]["actor"], trail[-1]["data"]) == ("partner:oms", {"n": 1})
    replay = await send(
        http, partner, api, created, type="partner.done", reference=reference, messageId=good["messageId"]
    )
    assert replay["status"] == 200 and json.loads(replay["body"])["duplicate"] is True
    stored = await api.ok("GET", f"/partners/{created['id']}/events")
    assert [e["messageId"] for e in stored] == [good["messageId"]]  # the refused ones left nothing


async def test_an_event_that_arrives_early_is_applied_when_the_state_is_entered(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    created = await connector(api, partner)
    session_id = await start(api, process([], AWAIT))
    early = await send(http, partner, api, created, type="partner.done", reference=session_id)
    assert early["status"] == 202
    assert (await api.ok("GET", f"/sessions/{session_id}"))["status"] == "NEW"
    await api.ok("POST", f"/sessions/{session_id}/actions", {"action": "wait"})
    await status_is(api, session_id, "DONE")


async def test_an_event_for_no_session_is_kept_and_listed_as_unmatched(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    created = await connector(api, partner)
    sent = await send(http, partner, api, created, type="partner.done", reference="nobody-has-this")
    assert sent["status"] == 202
    unmatched = await api.ok("GET", f"/partners/{created['id']}/events?unmatched=true")
    assert [(e["messageId"], e["sessionId"]) for e in unmatched] == [(sent["messageId"], None)]
    other = await api.ok("GET", f"/partners/{created['id']}/events?unmatched=false")
    assert other == []


async def test_a_notify_step_emits_its_event_to_the_log(api: ApiClient) -> None:
    steps = [{"kind": "notify", "event": "ready", "payload": {"ref": "{{session.reference}}", "n": 3}}]
    session_id = await start(api, process(steps), reference="R-9")

    async def emitted() -> bool:
        page = await api.ok("GET", "/events?type=process.ready")
        return any(e["data"]["sessionId"] == session_id for e in page["items"])

    await eventually(emitted, what="the notify event")
    page = await api.ok("GET", "/events?type=process.*")
    (event,) = [e for e in page["items"] if e["data"]["sessionId"] == session_id]
    assert event["data"]["payload"] == {"ref": "R-9", "n": 3} and event["data"]["status"] == "NEW"


async def test_an_await_times_out_on_the_time_skipping_server(
    skipping: WorkflowEnvironment, engine: Engine
) -> None:
    definition = validate_definition(
        process(
            [],
            [
                {
                    "kind": "await",
                    "event": "partner.done",
                    "action": "succeed",
                    "timeoutSeconds": 86400,
                    "onTimeout": "fail",
                }
            ],
        )
    )
    start = SessionStart(
        tenant="awaits",
        session_id=f"ses_{uuid.uuid4().hex[:12]}",
        cart_id=f"cart-{uuid.uuid4().hex[:6]}",
        definition=definition,
    )
    client = SessionClient(skipping.client, "skip-sessions", None)
    await client.start(start)
    await client.act("awaits", start.session_id, ActionRequest(action="wait"))
    await skipping.sleep(timedelta(hours=23))
    assert (await client.view("awaits", start.session_id)).status == "WAITING"
    await skipping.sleep(timedelta(hours=1, seconds=1))
    assert (await client.view("awaits", start.session_id)).status == "FAILED"
    last = sessions.cart_revisions(engine, "awaits", start.cart_id)[-1]
    assert (last.action, last.actor) == ("fail", "system:timer")


@pytest.mark.slow
async def test_a_worker_killed_while_the_partner_holds_the_call_repeats_the_same_intent(
    api: ApiClient,
    partner: str,
    http: aiohttp.ClientSession,
    temporal_client: Client,
    settings: Settings,
    engine: Engine,
) -> None:
    await connector(api, partner)
    path = f"/held-{uuid.uuid4().hex[:6]}"
    await script(http, partner, path, [{"status": 200, "hold": True, "body": {"omsOrderId": "O-7"}}])
    queue = f"calls-{uuid.uuid4().hex[:8]}"
    first = spawn_worker(settings, queue)
    second: subprocess.Popen[bytes] | None = None
    try:
        await eventually(lambda: polling(temporal_client, queue, first.pid), 60, "the first worker to poll")
        start = SessionStart(
            tenant=api.tenant,
            session_id=f"ses_{uuid.uuid4().hex[:12]}",
            cart_id="c",
            definition=validate_definition(process([call_step(path)])),
        )
        await SessionClient(temporal_client, queue, None).start(start)
        held = {"path": path, "atLeast": "1", "waitMs": "30000"}
        async with http.get(f"{partner}{PARTNER_PATH}/calls", params=held) as r:
            assert len(await r.json()) >= 1  # the call is at the partner, unanswered
        first.send_signal(signal.SIGKILL)
        first.wait()
        async with http.post(f"{partner}{PARTNER_PATH}/release") as r:
            assert r.status == 200
        second = spawn_worker(settings, queue)

        async def done() -> bool:
            view = await asyncio.to_thread(sessions.get_view, engine, api.tenant, start.session_id)
            return view is not None and view.status == "DONE"

        await eventually(done, 90, "the session to finish on the second worker")
        seen = await calls_to(http, partner, path)
        assert len(seen) >= 2 and len({c["idempotencyKey"] for c in seen}) == 1
        assert [c["replay"] for c in seen].count(False) == 1  # one effect: the retries were replays
        view = await asyncio.to_thread(sessions.get_view, engine, api.tenant, start.session_id)
        assert view is not None and view.context["oms"] == {"omsOrderId": "O-7"}
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)


async def test_a_connector_with_standard_webhooks_auth_signs_its_calls(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    secret = new_secret()
    body = {
        "name": "signed",
        "kind": "WMS",
        "baseUrl": partner + PARTNER_PATH,
        "auth": {"type": "standard-webhooks", "secret": secret},
    }
    await api.ok("POST", "/connectors", body, 201)
    path = f"/pgi-{uuid.uuid4().hex[:6]}"
    async with http.post(f"{partner}{PARTNER_PATH}/config", json={"standardWebhooksSecret": secret}) as r:
        assert r.status == 200, await r.text()
    try:
        session_id = await start(api, process([{**call_step(path), "connector": "signed"}]))
        await status_is(api, session_id, "DONE")  # the partner verified the signature (else a 401: FAILED)
    finally:
        async with http.post(f"{partner}{PARTNER_PATH}/config", json={}) as r:
            assert r.status == 200
    (seen,) = await calls_to(http, partner, path)
    assert seen["auth"]["ok"] is True and seen["headers"]["webhook-id"] == seen["idempotencyKey"]


async def test_webhooks_subscribe_to_what_processes_emit(api: ApiClient) -> None:
    for filters in (["process.*"], ["process.ready"], ["process.ready.now", "session.*"]):
        body = {"url": "http://127.0.0.1:9/hook", "eventTypes": filters}
        assert (await api.ok("POST", "/webhooks", body, 201))["eventTypes"] == filters
    refused = await api.post("/webhooks", {"url": "http://127.0.0.1:9/hook", "eventTypes": ["processes.x"]})
    assert refused.status == 400 and refused.body["errors"][0]["field"].startswith("eventTypes")


async def test_an_event_too_large_or_not_unicode_is_refused_before_anything_is_stored(
    api: ApiClient, partner: str, http: aiohttp.ClientSession
) -> None:
    created = await connector(api, partner)
    session_id = await start(api, process(AWAIT))
    for data in ({"blob": "x" * 40_000}, {"k": "\ud800"}):
        sent = await send(http, partner, api, created, type="partner.done", reference=session_id, data=data)
        assert sent["status"] == 400 and '"field":"data"' in sent["body"].replace(" ", ""), sent
    assert await api.ok("GET", f"/partners/{created['id']}/events") == []
    assert (await api.ok("GET", f"/sessions/{session_id}"))["status"] == "NEW"
