"""API keys over the API: list, create (shown once), revoke; admin only, per tenant; a revoked key's live
connections are closed; and the routes that need `admin`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.deps import KeyCache
from config.settings import Settings
from storage.tenants import Principal
from tests.support import ApiClient, free_port, serving


@pytest.fixture
def admin(make_tenant: Callable[..., ApiClient]) -> ApiClient:
    return make_tenant(["admin"])


async def test_create_list_and_revoke(admin: ApiClient) -> None:
    created = await admin.ok("POST", "/api_keys", {"label": "ci", "scopes": ["sessions:read"]}, 201)
    assert created["key"].startswith(f"ffk_{created['id']}_") and created["revokedAt"] is None
    assert created["label"] == "ci" and created["scopes"] == ["sessions:read"]
    ci = ApiClient(admin.http, admin.base, created["key"], admin.tenant)
    assert (await ci.get("/sessions")).status == 200
    assert (await ci.post("/sessions", {"processType": "WEB_ORDER", "cartId": "c"})).status == 403

    default = await admin.ok("POST", "/api_keys", {"label": "defaults"}, 201)
    assert "push:read" in default["scopes"] and "admin" not in default["scopes"]

    page = await admin.ok("GET", "/api_keys")
    # make_tenant gave the tenant two keys: its own and an admin one labelled "tests"
    assert page["total"] == 4 and [k["label"] for k in page["items"]] == ["", "tests", "ci", "defaults"]
    assert all(set(k) == {"id", "label", "scopes", "createdAt", "revokedAt"} for k in page["items"])
    assert created["key"] not in json.dumps(page)
    second = await admin.ok("GET", "/api_keys?limit=1&offset=2")
    assert [k["id"] for k in second["items"]] == [created["id"]] and second["total"] == 4
    assert (await admin.get("/api_keys?limit=501")).status == 400

    revoked = await admin.ok("DELETE", f"/api_keys/{created['id']}")
    assert revoked["revokedAt"] is not None and "key" not in revoked
    reply = await ci.get("/sessions")
    assert reply.status == 401 and reply.body["errors"][0]["code"] == "UNAUTHENTICATED"
    listed = {k["id"]: k for k in (await admin.ok("GET", "/api_keys"))["items"]}
    assert listed[created["id"]]["revokedAt"] == revoked["revokedAt"]
    again = await admin.ok("DELETE", f"/api_keys/{created['id']}")  # revoking twice changes nothing
    assert again["revokedAt"] == revoked["revokedAt"]


async def test_bad_scopes_are_refused(admin: ApiClient) -> None:
    reply = await admin.post("/api_keys", {"label": "x", "scopes": ["sessions:read", "root"]})
    assert reply.status == 400 and reply.body["errors"][0] == {
        "code": "UNKNOWN_SCOPE",
        "message": reply.body["errors"][0]["message"],
        "field": "scopes",
    }
    assert "'root'" in reply.body["errors"][0]["message"]
    assert (await admin.post("/api_keys", {"label": "x", "scopes": []})).status == 400


async def test_a_key_without_admin_gets_403(make_tenant: Callable[..., ApiClient]) -> None:
    everything_but_admin = make_tenant()
    for method, path in (("GET", "/api_keys"), ("POST", "/api_keys"), ("DELETE", "/api_keys/whatever")):
        reply = await everything_but_admin.call(method, path, {"label": "x"} if method == "POST" else None)
        assert reply.status == 403 and reply.body["required_scope"] == "admin", (method, path)


async def test_another_tenants_key_is_not_found(make_tenant: Callable[..., ApiClient]) -> None:
    mine, theirs = make_tenant(["admin"]), make_tenant(["admin"])
    their_key = await theirs.ok("POST", "/api_keys", {"label": "theirs"}, 201)
    reply = await mine.call("DELETE", f"/api_keys/{their_key['id']}")
    assert reply.status == 404 and reply.body["errors"][0]["code"] == "API_KEY_NOT_FOUND"
    assert (await mine.call("DELETE", "/api_keys/nosuchkey")).status == 404
    assert their_key["id"] not in {k["id"] for k in (await mine.ok("GET", "/api_keys"))["items"]}
    still = ApiClient(theirs.http, theirs.base, their_key["key"])
    assert (await still.get("/sessions")).status == 200


async def test_revoking_your_own_key_is_allowed(admin: ApiClient) -> None:
    me = (await admin.ok("GET", "/api_keys"))["items"][0]["id"]
    assert str(admin.key).startswith(f"ffk_{me}_")
    await admin.ok("DELETE", f"/api_keys/{me}")
    assert (await admin.get("/api_keys")).status == 401


async def test_a_revoked_key_loses_its_live_feed(admin: ApiClient, settings: Settings) -> None:
    quick = settings.model_copy(update={"api_port": free_port(), "live_feed_auth_recheck_seconds": 0.2})
    created = await admin.ok("POST", "/api_keys", {"label": "feed", "scopes": ["events:read"]}, 201)
    headers = {"Authorization": f"Bearer {created['key']}"}
    async with serving(quick) as base:
        url = base.replace("http://", "ws://") + "/live_feed"
        async with (
            connect(url, additional_headers=headers) as ws,
            admin.http.get(f"{base}/live_feed/sse", headers=headers) as sse,
        ):
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            assert sse.status == 200
            await admin.ok("DELETE", f"/api_keys/{created['id']}")
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            assert closed.value.rcvd.reason == "the API key was revoked"
            async with asyncio.timeout(10):
                body = (await sse.content.read()).decode()
            assert body.endswith(
                'event: revoked\ndata: {"type": "revoked", "reason": "the API key was revoked"}\n\n'
            )


async def test_a_ticket_of_a_revoked_key_opens_nothing(admin: ApiClient) -> None:
    created = await admin.ok("POST", "/api_keys", {"label": "browser", "scopes": ["events:read"]}, 201)
    browser = ApiClient(admin.http, admin.base, created["key"])
    ticket = (await browser.ok("POST", "/live_feed/tickets", status=201))["ticket"]
    await admin.ok("DELETE", f"/api_keys/{created['id']}")
    async with admin.http.get(f"{admin.base}/live_feed/sse?ticket={ticket}") as refused:
        assert refused.status == 401


async def test_configuration_writes_need_admin(make_tenant: Callable[..., ApiClient]) -> None:
    orders_writer, admin = make_tenant(["orders:read", "orders:write"]), make_tenant(["admin"])
    for path, body in (
        ("/api/configurations/ordermodification", {"allowOrderLineItemModification": False}),
        ("/api/configurations/fulfillable", {"gracePeriodSeconds": 0}),
    ):
        current = await orders_writer.ok("GET", path)
        reply = await orders_writer.call("PUT", path, {**body, "version": current["version"]})
        assert reply.status == 403 and reply.body["required_scope"] == "admin", path
        assert (await orders_writer.ok("GET", path))["version"] == current["version"]
        current = await admin.ok("GET", path)
        assert (await admin.call("PUT", path, {**body, "version": current["version"]})).status == 200


def test_a_replica_trusts_a_checked_key_for_the_cache_time_only() -> None:
    """What bounds how long a key revoked through another replica still works here."""
    now = [100.0]
    cache = KeyCache(5, size=2, clock=lambda: now[0])
    first, second, third = (Principal("t", f"k{n}", frozenset()) for n in range(3))
    cache.put("ffk_k0_a", first)
    assert cache.get("ffk_k0_a") == first and cache.get("ffk_k0_b") is None  # the whole key, not its id
    now[0] = 105.0
    assert cache.get("ffk_k0_a") is None  # expired: the next request reads the key again
    cache.put("ffk_k0_a", first)
    cache.put("ffk_k1_a", second)
    cache.forget("k0")  # revoked through this replica
    assert cache.get("ffk_k0_a") is None and cache.get("ffk_k1_a") == second
    cache.put("ffk_k0_a", first)  # a request that read the key just before the revocation
    assert cache.get("ffk_k0_a") is None
    now[0] = 111.0  # the revocation's window has passed: this replica reads keys afresh again
    cache.put("ffk_k1_a", second)
    cache.put("ffk_k2_a", third)
    cache.put("ffk_k0_a", first)
    assert cache.get("ffk_k0_a") == first and cache.get("ffk_k2_a") == third
    assert cache.get("ffk_k1_a") is None  # at most `size` keys: the oldest goes
    off = KeyCache(0)
    off.put("ffk_k0_a", first)
    assert off.get("ffk_k0_a") is None
