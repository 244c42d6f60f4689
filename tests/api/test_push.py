"""Push through the API to loopback fakes that check each provider's real wire format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.push_fakes import PushFakes
from tests.support import ApiClient, eventually


async def register(api: ApiClient, platform: str, credentials: dict[str, Any]) -> dict[str, Any]:
    body = {"platform": platform, "name": f"{platform} app", "credentials": credentials}
    return dict(await api.ok("POST", "/applications", body, 201))


async def deactivated(api: ApiClient, device_id: str) -> dict[str, Any]:
    async def gone() -> bool:
        return not (await api.ok("GET", f"/device_tokens/{device_id}"))["active"]

    await eventually(gone, 30, "the gone token to be deactivated")
    return dict(await api.ok("GET", f"/device_tokens/{device_id}"))


async def test_fcm(api: ApiClient, push_fakes: PushFakes) -> None:
    app = await register(api, "fcm", {"serviceAccount": push_fakes.service_account()})
    token, dead = f"fcm-{api.tenant}-ok", f"fcm-{api.tenant}-dead"
    push_fakes.gone.add(dead)
    for t in (token, dead):
        await api.ok(
            "POST", "/device_tokens", {"applicationId": app["id"], "token": t, "cartIds": ["cart-fcm"]}, 201
        )
    sid = (await api.new_session(cart_id="cart-fcm", reference="ORDER-7"))["id"]
    (got,) = await push_fakes.inbox.wait_for(1, where=lambda p: p.token == token)
    assert got.payload["notification"] == {"title": "Order received", "body": "ORDER-7: we are on it"}
    assert got.payload["data"]["sessionId"] == sid and got.payload["data"]["status"] == "CREATED"
    dead_device = next(d for d in await api.ok("GET", "/device_tokens") if d["token"] == dead)
    state = await deactivated(api, dead_device["id"])
    assert "UNREGISTERED" in state["deactivatedReason"]
    await api.act(sid, "confirm")
    updates = await push_fakes.inbox.wait_for(2, where=lambda p: p.token == token)
    assert updates[1].payload["notification"]["body"] == "ORDER-7: confirmed"
    assert not [p for p in push_fakes.inbox.items if p.token == dead]


async def test_apns_over_http2(api: ApiClient, push_fakes: PushFakes) -> None:
    app = await register(api, "apns", push_fakes.apns_credentials())
    token, dead = "a1" * 32, "d0" * 32
    push_fakes.gone.add(dead)
    devices = {}
    for t in (token, dead):
        body = {
            "applicationId": app["id"],
            "token": t,
            "sessionIds": [],
            "cartIds": [f"cart-apns-{api.tenant}"],
        }
        devices[t] = (await api.ok("POST", "/device_tokens", body, 201))["id"]
    await api.new_session(cart_id=f"cart-apns-{api.tenant}")
    (got,) = await push_fakes.inbox.wait_for(1, where=lambda p: p.platform == "apns" and p.token == token)
    assert got.payload["aps"]["alert"]["title"] == "Order received"
    assert got.headers["apns-priority"] == "10" and len(got.headers["apns-id"]) == 36
    state = await deactivated(api, devices[dead])
    assert "410" in state["deactivatedReason"] and "Unregistered" in state["deactivatedReason"]


async def test_web_push_payload_is_encrypted_for_the_subscription(
    api: ApiClient, push_fakes: PushFakes
) -> None:
    app = await register(api, "webpush", {"subject": "mailto:ops@example.com"})
    assert app["vapidPublicKey"] and len(app["vapidPublicKey"]) == 87  # 65 bytes, base64url
    live, dead = f"wp-{api.tenant}", f"wp-{api.tenant}-dead"
    push_fakes.gone.add(dead)
    ids = {}
    for name in (live, dead):
        body = {
            "applicationId": app["id"],
            "subscription": push_fakes.subscription(name),
            "cartIds": ["cart-wp"],
        }
        ids[name] = (await api.ok("POST", "/device_tokens", body, 201))["id"]
    sid = (await api.new_session(cart_id="cart-wp"))["id"]
    (got,) = await push_fakes.inbox.wait_for(1, where=lambda p: p.token == live)
    assert got.headers["k"] == app["vapidPublicKey"]
    assert got.payload["title"] == "Order received" and got.payload["data"]["sessionId"] == sid
    assert "410" in (await deactivated(api, ids[dead]))["deactivatedReason"]


async def test_filters_choose_what_a_device_gets(api: ApiClient, push_fakes: PushFakes) -> None:
    app = await register(api, "fcm", {"serviceAccount": push_fakes.service_account()})
    token = f"fcm-{api.tenant}-changes"
    body = {
        "applicationId": app["id"],
        "token": token,
        "cartIds": ["cart-f"],
        "eventTypes": ["session.status_changed"],
    }
    device = await api.ok("POST", "/device_tokens", body, 201)
    sid = (await api.new_session(cart_id="cart-f"))["id"]
    await api.act(sid, "confirm")
    (got,) = await push_fakes.inbox.wait_for(1, where=lambda p: p.token == token)
    assert got.payload["data"]["type"] == "session.status_changed"
    assert (await api.call("DELETE", f"/device_tokens/{device['id']}")).status == 204
    await api.act(sid, "pick")
    other = f"fcm-{api.tenant}-witness"  # a later device sees the next event: the deleted one did not get it
    await api.ok("POST", "/device_tokens", {**body, "token": other}, 201)
    await api.act(sid, "pack")
    await push_fakes.inbox.wait_for(1, where=lambda p: p.token == other)
    assert len([p for p in push_fakes.inbox.items if p.token == token]) == 1


@pytest.mark.parametrize(
    ("platform", "credentials", "field"),
    [
        (
            "apns",
            {"teamId": "bad", "keyId": "KEY1234567", "privateKey": "x", "topic": "t"},
            "credentials.teamId",
        ),
        (
            "apns",
            {"teamId": "TEAM123456", "keyId": "KEY1234567", "privateKey": "nope", "topic": "t"},
            "credentials.privateKey",
        ),
        ("fcm", {"serviceAccount": {"type": "service_account"}}, "credentials.serviceAccount.project_id"),
        ("webpush", {"subject": "ops@example.com"}, "credentials.subject"),
    ],
)
async def test_bad_credentials_name_the_field(
    api: ApiClient, platform: str, credentials: dict[str, Any], field: str
) -> None:
    reply = await api.post("/applications", {"platform": platform, "name": "x", "credentials": credentials})
    assert reply.status == 400
    assert field in [e["field"] for e in reply.body["errors"]]


async def test_device_requests_are_checked(
    api: ApiClient, make_tenant: Callable[..., ApiClient], push_fakes: PushFakes
) -> None:
    web = await register(api, "webpush", {"subject": "mailto:ops@example.com"})
    reply = await api.post(
        "/device_tokens", {"applicationId": web["id"], "token": "abcdefghij", "cartIds": ["c"]}
    )
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "subscription"
    reply = await api.post("/device_tokens", {"applicationId": web["id"], "token": "abcdefghij"})
    assert reply.status == 400
    tricky = {**push_fakes.subscription("tricky"), "endpoint": "http://user@push.example/x"}
    body = {"applicationId": web["id"], "subscription": tricky, "cartIds": ["c"]}
    reply = await api.post("/device_tokens", body)
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "subscription.endpoint"
    stranger = make_tenant()
    assert (await stranger.get(f"/applications/{web['id']}")).status == 404
    reply = await stranger.post(
        "/device_tokens", {"applicationId": web["id"], "token": "abcdefghij", "cartIds": ["c"]}
    )
    assert reply.status == 404
    assert (await api.call("DELETE", f"/applications/{web['id']}")).status == 204
    assert (await api.get(f"/applications/{web['id']}")).status == 404


async def test_push_routes_need_push_scopes(make_tenant: Callable[..., ApiClient]) -> None:
    webhooks_only = make_tenant(["webhooks:read", "webhooks:write"])
    body = {"platform": "webpush", "name": "x", "credentials": {"subject": "mailto:ops@example.com"}}
    for method, path, json, scope in (
        ("GET", "/applications", None, "push:read"),
        ("POST", "/applications", body, "push:write"),
        ("GET", "/device_tokens", None, "push:read"),
        ("DELETE", "/device_tokens/dev_x", None, "push:write"),
    ):
        reply = await webhooks_only.call(method, path, json)
        assert reply.status == 403 and reply.body["required_scope"] == scope, (method, path)
    reader = make_tenant(["push:read"])
    assert (await reader.get("/applications")).status == 200
    assert (await reader.post("/applications", body)).status == 403
    writer = make_tenant(["push:read", "push:write"])
    app = await register(writer, "webpush", {"subject": "mailto:ops@example.com"})
    assert "credentials" not in app
    assert [a["id"] for a in await writer.ok("GET", "/applications")] == [app["id"]]
