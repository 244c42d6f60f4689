"""Sessions through the HTTP API against the real Temporal dev server and a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from domain.examples import gift_wrap
from domain.ids import session_workflow_id
from tests.support import ApiClient, eventually
from workflows import search_attributes as sa

GIFT_WRAP = gift_wrap()


async def history_length(client: Client, tenant: str, session_id: str) -> int:
    history = await client.get_workflow_handle(session_workflow_id(tenant, session_id)).fetch_history()
    return len(history.events)


async def test_web_order_walked_to_delivered(api: ApiClient, temporal_client: Client) -> None:
    created = await api.new_session(cart_id="cart-walk", reference="ORD-1", context={"channel": "web"})
    assert created["status"] == "CREATED" and created["processVersion"] == 1 and not created["terminal"]
    assert created["allowedActions"] == ["confirm", "reject", "cancel"]
    assert created["context"] == {"channel": "web"} and created["reference"] == "ORD-1"
    sid = created["id"]
    for action, status in [
        ("confirm", "CONFIRMED"),
        ("pick", "PICKED"),
        ("pack", "PACKED"),
        ("ship", "SHIPPED"),
        ("deliver", "DELIVERED"),
    ]:
        view = await api.act(sid, action, comment=f"{action} done")
        assert view["status"] == status
    current = await api.ok("GET", f"/sessions/{sid}")
    assert current["status"] == "DELIVERED" and current["allowedActions"] == ["finish", "request_return"]
    assert current["revision"] == 5

    revisions = await api.ok("GET", "/carts/cart-walk/revisions")
    assert [(r["action"], r["from"], r["to"]) for r in revisions] == [
        ("create", None, "CREATED"),
        ("confirm", "CREATED", "CONFIRMED"),
        ("pick", "CONFIRMED", "PICKED"),
        ("pack", "PICKED", "PACKED"),
        ("ship", "PACKED", "SHIPPED"),
        ("deliver", "SHIPPED", "DELIVERED"),
    ]
    assert revisions[1]["comment"] == "confirm done" and revisions[1]["actor"].startswith("key:")

    listed = await api.ok("GET", "/sessions?cartId=cart-walk")
    assert listed["total"] == 1 and listed["items"][0]["status"] == "DELIVERED"

    # Operators find it in the Temporal UI by its search attributes.
    described = await temporal_client.get_workflow_handle(session_workflow_id(api.tenant, sid)).describe()
    attrs = described.typed_search_attributes
    assert attrs.get(sa.STATUS) == "DELIVERED" and attrs.get(sa.TENANT) == api.tenant
    assert attrs.get(sa.CART_ID) == "cart-walk" and attrs.get(sa.PROCESS_TYPE) == "WEB_ORDER"
    assert "WEB_ORDER" in (await described.static_summary() or "")


async def test_disallowed_action_is_409_and_leaves_history_untouched(
    api: ApiClient, temporal_client: Client
) -> None:
    sid = (await api.new_session(cart_id="cart-409"))["id"]
    # The start answers before the worker's first task; a first refusal waits for that task.
    assert (await api.post(f"/sessions/{sid}/actions", {"action": "deliver"})).status == 409
    before = await history_length(temporal_client, api.tenant, sid)
    reply = await api.post(f"/sessions/{sid}/actions", {"action": "ship"})
    assert reply.status == 409
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert reply.body["allowedActions"] == ["confirm", "reject", "cancel"]
    assert reply.body["currentStatus"] == "CREATED"
    assert (
        reply.body["errors"][0]["code"] == "ACTION_NOT_ALLOWED"
        and reply.body["errors"][0]["field"] == "action"
    )
    assert await history_length(temporal_client, api.tenant, sid) == before
    assert (await api.ok("GET", f"/sessions/{sid}"))["revision"] == 0


async def test_actions_on_a_finished_session_answer_409(api: ApiClient) -> None:
    sid = (await api.new_session(cart_id="cart-done"))["id"]
    done = await api.act(sid, "cancel")
    assert done["terminal"] and done["allowedActions"] == []
    reply = await api.post(f"/sessions/{sid}/actions", {"action": "confirm"})
    assert reply.status == 409 and reply.body["allowedActions"] == []
    assert (await api.ok("GET", f"/sessions/{sid}"))["status"] == "CANCELLED"


async def test_custom_process_registered_and_walked_to_its_end(api: ApiClient) -> None:
    registered = await api.ok("POST", "/processes", GIFT_WRAP, 201)
    assert registered["version"] == 1
    assert (await api.ok("GET", "/processes/GIFT_WRAP"))["version"] == 1
    assert "GIFT_WRAP" in {p["type"] for p in await api.ok("GET", "/processes")}
    sid = (await api.new_session("GIFT_WRAP", "cart-gift"))["id"]
    await api.act(sid, "wrap")
    final = await api.act(sid, "finish")
    assert final["status"] == "HANDED_OVER" and final["terminal"] and final["allowedActions"] == []


async def test_new_version_leaves_running_sessions_on_theirs(api: ApiClient) -> None:
    await api.ok("POST", "/processes", GIFT_WRAP, 201)
    old = (await api.new_session("GIFT_WRAP", "cart-v"))["id"]
    v2 = {
        **GIFT_WRAP,
        "states": [*GIFT_WRAP["states"], {"name": "INSPECTED"}],
        "transitions": [
            {"from": "CREATED", "action": "wrap", "to": "WRAPPED"},
            {"from": "WRAPPED", "action": "inspect", "to": "INSPECTED"},
            {"from": "INSPECTED", "action": "finish", "to": "HANDED_OVER"},
            {"from": "CREATED", "action": "cancel", "to": "CANCELLED"},
        ],
    }
    assert (await api.ok("POST", "/processes", v2, 201))["version"] == 2
    assert len((await api.ok("GET", "/processes/GIFT_WRAP/versions/1"))["states"]) == 4

    await api.act(old, "wrap")
    old_view = await api.ok("GET", f"/sessions/{old}")
    assert old_view["processVersion"] == 1 and old_view["allowedActions"] == ["finish"]
    assert (await api.act(old, "finish"))["status"] == "HANDED_OVER"

    new = await api.new_session("GIFT_WRAP", "cart-v")
    assert new["processVersion"] == 2
    assert (await api.act(new["id"], "wrap"))["allowedActions"] == ["inspect"]
    pinned = await api.new_session("GIFT_WRAP", "cart-v", processVersion=1)
    assert pinned["processVersion"] == 1


async def test_other_tenants_see_404(make_tenant: Callable[..., ApiClient]) -> None:
    owner, stranger = make_tenant(), make_tenant()
    sid = (await owner.new_session(cart_id="cart-private"))["id"]
    assert (await stranger.get(f"/sessions/{sid}")).status == 404
    reply = await stranger.post(f"/sessions/{sid}/actions", {"action": "confirm"})
    assert reply.status == 404 and reply.body["errors"][0]["code"] == "SESSION_NOT_FOUND"
    assert await stranger.ok("GET", "/carts/cart-private/revisions") == []
    assert (await stranger.ok("GET", "/sessions"))["total"] == 0
    await owner.ok("POST", "/processes", GIFT_WRAP, 201)
    assert (await stranger.get("/processes/GIFT_WRAP")).status == 404
    assert (await owner.ok("GET", f"/sessions/{sid}"))["status"] == "CREATED"


async def test_authentication_and_scopes(make_tenant: Callable[..., ApiClient], api_url: str) -> None:
    good = make_tenant()
    anonymous = ApiClient(good.http, api_url, None)
    reply = await anonymous.get("/sessions")
    assert reply.status == 401 and reply.body["errors"][0]["code"] == "UNAUTHENTICATED"
    forged = ApiClient(good.http, api_url, str(good.key)[:-2] + "zz")
    assert (await forged.get("/sessions")).status == 401
    reader = make_tenant(["sessions:read"])
    reply = await reader.post("/sessions", {"processType": "WEB_ORDER", "cartId": "c"})
    assert reply.status == 403 and reply.body["required_scope"] == "sessions:write"
    assert (await reader.get("/sessions")).status == 200
    assert (await anonymous.get("/health")).status == 200
    assert (await anonymous.get("/openapi.json")).status == 200


async def test_invalid_definitions_are_rejected_with_the_field_named(api: ApiClient) -> None:
    bad = {
        **GIFT_WRAP,
        "transitions": [*GIFT_WRAP["transitions"], {"from": "WRAPPED", "action": "x", "to": "GONE"}],
    }
    reply = await api.post("/processes", bad)
    assert reply.status == 400
    assert [(e["code"], e["field"]) for e in reply.body["errors"]] == [("UNKNOWN_STATE", "transitions[3].to")]
    assert (await api.get("/processes/GIFT_WRAP")).status == 404


async def test_bad_requests_get_clear_4xx(api: ApiClient) -> None:
    reply = await api.post("/sessions", {"processType": "WEB_ORDER"})
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "cartId"
    reply = await api.post("/sessions", {"processType": "NO_SUCH", "cartId": "c"})
    assert reply.status == 404 and reply.body["errors"][0]["field"] == "processType"
    reply = await api.post("/sessions", {"processType": "WEB_ORDER", "processVersion": 7, "cartId": "c"})
    assert reply.status == 404 and reply.body["errors"][0]["code"] == "PROCESS_VERSION_NOT_FOUND"
    reply = await api.post(
        "/sessions", {"processType": "WEB_ORDER", "cartId": "c", "context": {"x": "y" * 40000}}
    )
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "context"
    reply = await api.get("/sessions?limit=0")
    assert reply.status == 400 and reply.body["errors"][0]["field"] == "limit"
    assert (await api.get("/sessions/ses_nope")).status == 404
    assert (await api.post("/sessions/ses_nope/actions", {"action": "confirm"})).status == 404


async def test_idempotency_key_replays_and_refuses_a_different_body(api: ApiClient) -> None:
    body = {"processType": "WEB_ORDER", "cartId": "cart-idem"}
    headers = {"Idempotency-Key": "create-once"}
    first, second = await asyncio.gather(
        api.call("POST", "/sessions", body, headers), api.call("POST", "/sessions", body, headers)
    )
    # The key is claimed before anything runs: the second is the first's replay, or, while the first
    # still runs, a 409 saying so. Never a second session.
    assert sorted([first.status, second.status]) in ([201, 201], [201, 409]), (first.body, second.body)
    if 409 in (first.status, second.status):
        first, second = (first, second) if first.status == 201 else (second, first)
        assert second.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_IN_USE"
        second = await api.call("POST", "/sessions", body, headers)
    assert first.status == second.status == 201 and first.body["id"] == second.body["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = await api.call("POST", "/sessions", {**body, "cartId": "x"}, headers)
    assert other.status == 422 and other.body["errors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED"

    sid = first.body["id"]
    act = {"Idempotency-Key": "confirm-once"}
    a = await api.call("POST", f"/sessions/{sid}/actions", {"action": "confirm"}, act)
    b = await api.call("POST", f"/sessions/{sid}/actions", {"action": "confirm"}, act)
    assert a.status == b.status == 200 and a.body == b.body and b.headers.get("Idempotent-Replayed") == "true"
    assert (await api.ok("GET", f"/sessions/{sid}"))["revision"] == 1
    # an action returns once recorded, and the creation was recorded before it: never a second session
    assert (await api.ok("GET", "/sessions?cartId=cart-idem"))["total"] == 1


async def test_concurrent_actions_apply_one_at_a_time(api: ApiClient) -> None:
    sid = (await api.new_session(cart_id="cart-race"))["id"]
    replies = await asyncio.gather(
        *[api.post(f"/sessions/{sid}/actions", {"action": "confirm"}) for _ in range(5)]
    )
    assert sorted(r.status for r in replies) == [200, 409, 409, 409, 409]
    revisions = await api.ok("GET", "/carts/cart-race/revisions")
    assert [r["action"] for r in revisions] == ["create", "confirm"]


async def test_list_filters_and_pagination(api: ApiClient) -> None:
    ids = [(await api.new_session("DIGITAL", "cart-list"))["id"] for _ in range(3)]
    await api.act(ids[0], "confirm")
    await api.new_session("FOOD_PREPARATION", "cart-list")

    async def listed() -> bool:  # a session is in the read model once its first task has run
        return (await api.ok("GET", "/sessions?cartId=cart-list"))["total"] == 4

    await eventually(listed, what="the new sessions in the read model")
    confirmed = await api.ok("GET", "/sessions?cartId=cart-list&status=CONFIRMED")
    assert [s["id"] for s in confirmed["items"]] == [ids[0]]
    digital = await api.ok("GET", "/sessions?processType=DIGITAL&limit=2")
    assert digital["total"] == 3 and len(digital["items"]) == 2
    rest = await api.ok("GET", "/sessions?processType=DIGITAL&limit=2&offset=2")
    assert len(rest["items"]) == 1
    assert {s["id"] for s in digital["items"] + rest["items"]} == set(ids)


async def test_health_reports_each_part(api_url: str, api: ApiClient) -> None:
    reply = await ApiClient(api.http, api_url, None).get("/health")
    assert reply.status == 200 and reply.body["missing"] == []
    assert reply.body["checks"]["worker"]["pollers"]


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def test_context_and_action_data_nested_too_deep_or_too_large_are_refused_naming_the_field(
    api: ApiClient,
) -> None:
    """Past about 200 levels the workflow's payload converter refuses a value, so a session given
    one would be stuck from its first task: the API refuses it first."""
    for depth in (33, 300):
        reply = await api.post(
            "/sessions", {"processType": "WEB_ORDER", "cartId": "deep", "context": nested(depth)}
        )
        assert reply.status == 400, reply.body
        assert (
            reply.body["errors"][0]["field"] == "context"
            and "32 levels" in reply.body["errors"][0]["message"]
        )
    session = await api.new_session(cart_id="deep", context=nested(32))  # the limit itself is fine
    for data in (nested(33), {"big": "x" * 40_000}):
        reply = await api.post(f"/sessions/{session['id']}/actions", {"action": "confirm", "data": data})
        assert reply.status == 400, reply.body
        assert reply.body["errors"][0]["field"] == "data"
    confirmed = await api.act(session["id"], "confirm", data=nested(32))
    assert confirmed["revision"] == 1


async def test_a_body_that_is_not_json_is_a_400_that_says_so(api: ApiClient) -> None:
    headers = {"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"}
    async with api.http.post(f"{api.base}/sessions", data=b"hello", headers=headers) as r:
        body = await r.json(content_type=None)
    assert r.status == 400
    assert body["errors"][0]["code"] == "INVALID_JSON" and body["errors"][0]["field"] is None
