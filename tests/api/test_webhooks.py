"""Webhooks over the API against the dev server: signed, ordered, disabled on 410, rotated, recovered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from config.settings import Settings
from domain import ids
from egress.urls import UnsafeUrl, check_url
from tests.receiver import Endpoint, Receiver
from tests.support import ApiClient, eventually


async def subscribe(
    api: ApiClient, receiver: Receiver, name: str, types: list[str] | None = None, **kw: object
) -> tuple[dict[str, Any], Endpoint]:
    body = {"url": receiver.url(name), "eventTypes": types or [], **kw}
    hook = await api.ok("POST", "/webhooks", body, 201)
    assert hook["secret"].startswith("whsec_")
    return hook, receiver.endpoint(name, hook["secret"])


async def test_signed_deliveries_arrive_in_order(api: ApiClient, receiver: Receiver) -> None:
    hook, endpoint = await subscribe(api, receiver, f"order-{api.tenant}", ["session.*"], description="crm")
    sid = (await api.new_session(cart_id="cart-hook"))["id"]
    for action in ("confirm", "pick", "pack"):
        await api.act(sid, action)
    got = await endpoint.wait_for(4)
    assert all(d.verified_with == [hook["secret"]] for d in got)
    assert [d.body["sequence"] for d in got] == [1, 2, 3, 4]
    assert [d.body["type"] for d in got] == ["session.created"] + ["session.status_changed"] * 3
    assert got[3].body["data"]["from"] == "PICKED" and got[3].body["data"]["to"] == "PACKED"
    log = await api.ok("GET", f"/events?subject={sid}")
    assert [d.webhook_id for d in got] == [e["id"] for e in log["items"]]

    async def all_settled() -> bool:  # an attempt is written once the receiver has answered it
        return len(await api.ok("GET", f"/webhooks/{hook['id']}/attempts")) == 4

    await eventually(all_settled, what="the fourth attempt's record")
    attempts = await api.ok("GET", f"/webhooks/{hook['id']}/attempts")
    assert len(attempts) == 4 and {a["outcome"] for a in attempts} == {"delivered"}
    assert attempts[0]["statusCode"] == 200 and attempts[0]["responseExcerpt"] == "answered 200"
    listed = await api.ok("GET", "/webhooks")
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]


async def test_filters_select_event_types(api: ApiClient, receiver: Receiver) -> None:
    _, endpoint = await subscribe(api, receiver, f"filter-{api.tenant}", ["session.status_changed"])
    sid = (await api.new_session(cart_id="cart-filter"))["id"]
    await api.act(sid, "cancel")
    got = await endpoint.wait_for(1)
    assert [d.body["type"] for d in got] == ["session.status_changed"]


async def test_gone_endpoint_is_disabled_and_announced(api: ApiClient, receiver: Receiver) -> None:
    gone, _ = await subscribe(api, receiver, f"gone-{api.tenant}", ["session.created"])
    receiver.endpoints[f"gone-{api.tenant}"].script = [(410, {})]
    _, watcher = await subscribe(api, receiver, f"watch-{api.tenant}", ["endpoint.disabled"])
    await api.new_session(cart_id="cart-gone")
    notice = (await watcher.wait_for(1))[0].body
    assert notice["type"] == "endpoint.disabled" and notice["data"]["webhookId"] == gone["id"]
    state = await api.ok("GET", f"/webhooks/{gone['id']}")
    assert state["enabled"] is False and "410" in state["disabledReason"]
    assert len(receiver.endpoints[f"gone-{api.tenant}"].received) == 1  # no retry after 410
    refused = await api.post(f"/webhooks/{gone['id']}/recover", {"since": "2020-01-01T00:00:00Z"})
    assert refused.status == 409


async def test_rotated_secret_signs_with_both_during_the_overlap(api: ApiClient, receiver: Receiver) -> None:
    hook, endpoint = await subscribe(api, receiver, f"rotate-{api.tenant}")
    rotated = await api.ok("POST", f"/webhooks/{hook['id']}/rotate_secret")
    assert rotated["secret"] != hook["secret"]
    assert datetime.fromisoformat(rotated["previousSecretExpiresAt"]) > datetime.now(UTC) + timedelta(
        hours=23
    )
    endpoint.secrets = [hook["secret"], rotated["secret"]]
    await api.post(f"/webhooks/{hook['id']}/test")
    (delivery,) = await endpoint.wait_for(1)
    assert delivery.verified_with == [hook["secret"], rotated["secret"]]
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2


async def test_test_event_and_recover(api: ApiClient, receiver: Receiver) -> None:
    hook, endpoint = await subscribe(api, receiver, f"recover-{api.tenant}", ["session.*"])
    started = datetime.now(UTC) - timedelta(seconds=1)
    sid = (await api.new_session(cart_id="cart-rec"))["id"]
    await api.act(sid, "confirm")
    first = await endpoint.wait_for(2)
    sent = await api.ok("POST", f"/webhooks/{hook['id']}/test", status=202)
    test_delivery = (await endpoint.wait_for(3))[2]
    assert test_delivery.body["type"] == "webhook.test" and test_delivery.webhook_id == sent["eventId"]

    answer = await api.ok("POST", f"/webhooks/{hook['id']}/recover", {"since": started.isoformat()}, 202)
    assert answer["subjects"] == 2  # the session and the test event's webhook subject
    assert answer["events"] == 3 and answer["nextCursor"] is None
    again = await endpoint.wait_for(6)
    resent = [d for d in again[3:] if d.body["subject"] == sid]
    assert [d.webhook_id for d in resent] == [d.webhook_id for d in first]
    # A `since` further back than 30 days is taken as 30 days (after the resend above is checked).
    too_far = {"since": (datetime.now(UTC) - timedelta(days=90)).isoformat()}
    clamped = await api.ok("POST", f"/webhooks/{hook['id']}/recover", too_far, 202)
    applied = datetime.fromisoformat(clamped["since"])
    assert timedelta(days=29) < datetime.now(UTC) - applied < timedelta(days=30, seconds=5)


async def test_event_log_and_catalogue(api: ApiClient) -> None:
    catalogue = await api.ok("GET", "/event_types")
    types = {t["type"]: t for t in catalogue}
    assert {"session.created", "session.status_changed", "endpoint.disabled", "webhook.test"} <= set(types)
    assert "allowedActions" in types["session.status_changed"]["schema"]["properties"]
    sid = (await api.new_session(cart_id="cart-log"))["id"]
    await api.act(sid, "confirm")
    page = await api.ok("GET", "/events?limit=1&type=session.*")
    assert len(page["items"]) == 1 and page["nextCursor"] == page["items"][0]["cursor"]
    rest = await api.ok("GET", f"/events?after={page['nextCursor']}")
    assert [e["sequence"] for e in rest["items"]] == [2] and rest["items"][0]["subject"] == sid
    only_changes = await api.ok("GET", "/events?type=session.status_changed")
    assert [e["data"]["action"] for e in only_changes["items"]] == ["confirm"]
    bad = await api.get("/events?type=session.nope")
    assert bad.status == 400 and bad.body["errors"][0]["field"] == "type"


async def test_bad_webhook_requests(
    api: ApiClient, make_tenant: Callable[..., ApiClient], receiver: Receiver
) -> None:
    reply = await api.post("/webhooks", {"url": receiver.url("x"), "eventTypes": ["order.nope"]})
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "eventTypes"
    reply = await api.post("/webhooks", {"url": "ftp://example.com/hook"})
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "url"  # the schema says http(s)
    assert reply.body["errors"][0]["message"].startswith("must be an absolute http(s) URL")  # not a regex
    hook, _ = await subscribe(api, receiver, f"mine-{api.tenant}")
    for since in (5, 1.5e9, True, None):  # a number is not read as seconds since 1970
        reply = await api.post(f"/webhooks/{hook['id']}/recover", {"since": since})
        assert reply.status == 400 and reply.body["errors"][0]["field"] == "since", since
    stranger = make_tenant()
    assert (await stranger.get(f"/webhooks/{hook['id']}")).status == 404
    assert (await stranger.post(f"/webhooks/{hook['id']}/test")).status == 404
    assert (await api.call("DELETE", f"/webhooks/{hook['id']}")).status == 204
    assert (await api.get(f"/webhooks/{hook['id']}")).status == 404


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/x", "http://[::1]/x"]
)
async def test_private_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_private=False)
    await check_url(url, allow_private=True)


async def dispatcher_timers(client: Client, tenant: str, webhook_id: str) -> list[float] | None:
    """The timers (seconds) the webhook's dispatcher started, or None if it never ran."""
    handle = client.get_workflow_handle(ids.dispatcher_workflow_id(tenant, webhook_id, 0))
    try:
        history = await handle.fetch_history()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for e in history.events
        if e.HasField("timer_started_event_attributes")
    ]


async def test_a_healthy_endpoint_has_the_event_before_the_action_answers(
    api: ApiClient, receiver: Receiver, temporal_client: Client
) -> None:
    """The first attempt is made inline by the worker that committed the event: no dispatcher."""
    hook, endpoint = await subscribe(api, receiver, f"inline-{api.tenant}", ["session.*"])
    sid = (await api.new_session(cart_id="cart-inline"))["id"]
    await endpoint.wait_for(1)  # the creation is recorded after the 201
    await api.act(sid, "confirm")
    await api.act(sid, "pick")
    # received, verified and settled before each answer: nothing to wait for
    assert [(d.body["sequence"], d.answered) for d in endpoint.received] == [(1, 200), (2, 200), (3, 200)]
    assert all(d.verified_with == [hook["secret"]] for d in endpoint.received)
    attempts = await api.ok("GET", f"/webhooks/{hook['id']}/attempts")
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "delivered")] * 3
    assert await dispatcher_timers(temporal_client, api.tenant, hook["id"]) is None


async def test_a_slow_endpoint_is_cut_at_the_budget_and_left_to_its_dispatcher(
    api: ApiClient, receiver: Receiver, temporal_client: Client, settings: Settings
) -> None:
    hook, endpoint = await subscribe(api, receiver, f"slow-{api.tenant}", ["session.*"])
    endpoint.hold = asyncio.Event()
    try:
        sid = (await api.new_session(cart_id="cart-slow"))["id"]

        async def cut() -> bool:
            return len(await api.ok("GET", f"/webhooks/{hook['id']}/attempts")) == 1

        await eventually(cut, what="the inline attempt's record")
        (first,) = await api.ok("GET", f"/webhooks/{hook['id']}/attempts")
        assert (first["attempt"], first["outcome"]) == (1, "failed")
        assert "did not answer in time" in first["error"]
        # cut at the inline budget (the slot's wait included), not at the exchange's 15 s
        # Cut by a timer at the budget: late by what a busy event loop adds, never by the endpoint's time.
        assert settings.webhook_inline_ms / 2 <= first["durationMs"] <= settings.webhook_inline_ms + 100
        # The dispatcher has it, waiting out the schedule's first step (5 s, jittered by up to 20 %).
        timers: list[float] = []

        async def handed_over() -> bool:
            timers[:] = await dispatcher_timers(temporal_client, api.tenant, hook["id"]) or []
            return bool(timers)

        await eventually(handed_over, what="the dispatcher's backoff")
        assert 3.9 <= timers[0] <= 6.0
        # The next event is behind the pending one, and the endpoint is paused: no inline attempt.
        await api.act(sid, "confirm")
        assert len(await api.ok("GET", f"/webhooks/{hook['id']}/attempts")) == 1
        assert len(endpoint.received) == 1
    finally:
        endpoint.hold.set()
