"""Change proposals on a cart's pickup session over HTTP, against real Temporal: propose, the
`change.proposed` webhook, accept (the session's context, revisions and reservations follow),
reject, refusals that name why, and a failure mid-accept that leaves the session as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_pickup import network, pickup_session
from tests.api.test_push import register
from tests.api.test_webhooks import subscribe
from tests.push_fakes import PushFakes
from tests.receiver import Receiver
from tests.support import ApiClient, eventually

CART = "cart-pick"
# A time STORE-UTR (open all day) can keep: a week from now.
SOON = (datetime.now(UTC) + timedelta(days=7)).replace(hour=10, minute=0, second=0, microsecond=0).isoformat()
PROPOSE, DECIDE, LIST = (
    f"/carts/{CART}/{path}" for path in ("propose_change", "accept_change", "session_changes")
)


async def holds(api: ApiClient, location: str) -> list[tuple[int, str, str]]:
    found = await api.ok("GET", f"/inventory/{location}/SKU-1/reservations")
    return [(r["quantity"], r["ownerKind"], r["ownerId"]) for r in found]


async def held_at(api: ApiClient, location: str, expected: list[tuple[int, str, str]]) -> None:
    async def there() -> bool:
        return await holds(api, location) == expected

    await eventually(there, what=f"the reservations at {location}: {expected}")


def move(session_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "changes": changes,
        "reason": "STORE-AMS closes early",
        "proposedBy": "employee",
    }


async def test_an_accepted_change_moves_the_pickup_its_context_trail_and_stock(
    api: ApiClient, receiver: Receiver, push_fakes: PushFakes
) -> None:
    await network(api)
    _, endpoint = await subscribe(api, receiver, f"changes-{api.tenant}", ["change.*", "session.changed"])
    app = await register(api, "fcm", {"serviceAccount": push_fakes.service_account()})
    token = f"fcm-{api.tenant}-cart"
    device = {
        "applicationId": app["id"],
        "token": token,
        "cartIds": [CART],
        "eventTypes": ["change.proposed"],
    }
    await api.ok("POST", "/device_tokens", device, 201)
    sid = await pickup_session(api)
    await held_at(api, "STORE-AMS", [(2, "session", sid)])  # a pickup session holds its items

    proposed = await api.ok("POST", PROPOSE, move(sid, locationRef="STORE-UTR"), 201)
    assert proposed["id"].startswith("chg_") and proposed["status"] == "PROPOSED"
    preview = proposed["preview"]
    assert preview["locationRef"] == "STORE-UTR" and preview["stock"] == "AVAILABLE"
    assert preview["reservations"] == {
        "release": [{"locationRef": "STORE-AMS", "sku": "SKU-1", "quantity": 2}],
        "reserve": [{"locationRef": "STORE-UTR", "sku": "SKU-1", "quantity": 2}],
    }
    created, expires = (datetime.fromisoformat(proposed[k]) for k in ("createdAt", "expiresAt"))
    assert expires - created == timedelta(hours=24)  # FULFILLMENT_CHANGE_EXPIRES_SECONDS
    (announced,) = await endpoint.wait_for(1)
    assert announced.body["type"] == "change.proposed" and announced.verified_with
    assert (announced.body["data"]["id"], announced.body["data"]["sessionId"]) == (proposed["id"], sid)
    assert announced.body["data"]["cartId"] == CART
    (pushed,) = await push_fakes.inbox.wait_for(1, where=lambda p: p.token == token)  # the cart's phone
    assert pushed.payload["notification"]["title"] == "Change proposed"
    assert pushed.payload["data"]["changeId"] == proposed["id"]

    second = await api.post(PROPOSE, move(sid, locationRef="STORE-UTR"))
    assert second.status == 409 and second.body["errors"][0]["code"] == "CHANGE_PENDING"
    assert second.body["changeId"] == proposed["id"]  # a client whose proposal timed out finds it

    accepted = await api.ok(
        "POST", DECIDE, {"changeId": proposed["id"], "decision": "accept", "actor": "customer:7"}
    )
    assert (accepted["status"], accepted["decidedBy"]) == ("ACCEPTED", "customer:7")
    session = await api.ok("GET", f"/sessions/{sid}")
    assert session["context"]["locationRef"] == "STORE-UTR" and session["status"] == "CREATED"
    assert session["allowedActions"] == ["confirm", "reject", "cancel"]  # its state machine untouched
    await held_at(api, "STORE-AMS", [])
    await held_at(api, "STORE-UTR", [(2, "session", sid)])

    async def trail() -> list[Any]:
        return [r for r in await api.ok("GET", f"/carts/{CART}/revisions") if r["sessionId"] == sid]

    async def amended() -> bool:
        return len(await trail()) == 2

    await eventually(amended, what="the change in the revision trail")
    entry = (await trail())[-1]
    assert (entry["action"], entry["from"], entry["to"], entry["actor"]) == (
        "accept_change",
        "CREATED",
        "CREATED",
        "customer:7",
    )
    assert entry["data"]["changeId"] == proposed["id"] and entry["data"]["changes"] == {
        "locationRef": "STORE-UTR"
    }
    types = sorted(d.body["type"] for d in await endpoint.wait_for(3))
    assert types == ["change.accepted", "change.proposed", "session.changed"]

    again = await api.post(DECIDE, {"changeId": proposed["id"], "decision": "reject"})
    assert again.status == 409 and again.body["errors"][0]["code"] == "CHANGE_DECIDED"

    later = await api.ok("POST", PROPOSE, move(sid, pickupTime=SOON), 201)
    assert later["preview"]["reservations"] is None  # the time alone moves no stock
    rejected = await api.ok("POST", DECIDE, {"changeId": later["id"], "decision": "reject", "comment": "no"})
    assert (rejected["status"], rejected["comment"]) == ("REJECTED", "no")
    assert "pickupTime" not in (await api.ok("GET", f"/sessions/{sid}"))["context"]
    listed = await api.ok("GET", LIST)
    assert [(c["id"], c["status"]) for c in listed] == [
        (later["id"], "REJECTED"),
        (proposed["id"], "ACCEPTED"),
    ]
    assert [c["id"] for c in await api.ok("GET", f"{LIST}?status=ACCEPTED&limit=1")] == [proposed["id"]]


async def test_a_change_that_fails_mid_accept_leaves_the_session_as_it_was(api: ApiClient) -> None:
    await network(api)
    sid = await pickup_session(api)
    await held_at(api, "STORE-AMS", [(2, "session", sid)])
    proposed = await api.ok("POST", PROPOSE, move(sid, locationRef="STORE-UTR"), 201)
    # STORE-UTR's stock goes before the decision: the change cannot take it.
    await api.ok(
        "PUT", "/inventory", {"positions": [{"locationRef": "STORE-UTR", "skuRef": "SKU-1", "onHand": 1}]}
    )
    failed = await api.ok("POST", DECIDE, {"changeId": proposed["id"], "decision": "accept"})
    assert (failed["status"], failed["failureCode"]) == ("FAILED", "STOCK_TAKEN")
    await held_at(api, "STORE-AMS", [(2, "session", sid)])  # the old reservation kept
    assert await holds(api, "STORE-UTR") == []
    assert (await api.ok("GET", f"/sessions/{sid}"))["context"]["locationRef"] == "STORE-AMS"

    # The session ends before the decision: the change's new reservation is given back.
    await api.ok(
        "PUT", "/inventory", {"positions": [{"locationRef": "STORE-UTR", "skuRef": "SKU-1", "onHand": 3}]}
    )
    retry = await api.ok("POST", PROPOSE, move(sid, locationRef="STORE-UTR"), 201)
    await api.act(sid, "cancel")
    await held_at(api, "STORE-AMS", [])  # a cancelled pickup releases what it held
    ended = await api.ok("POST", DECIDE, {"changeId": retry["id"], "decision": "accept"})
    assert (ended["status"], ended["failureCode"]) == ("FAILED", "SESSION_ENDED")
    assert await holds(api, "STORE-UTR") == []
    (utr,) = await api.ok("GET", "/inventory?locationRef=STORE-UTR&skuRef=SKU-1")
    assert (utr["onHand"], utr["reservedByOrders"]) == (3, 0)


async def test_a_collected_pickup_consumes_what_it_held(api: ApiClient) -> None:
    await network(api)
    sid = await pickup_session(api, quantity=1, locationRef="STORE-UTR")
    await held_at(api, "STORE-UTR", [(1, "session", sid)])
    for action in ("confirm", "pick", "mark_ready", "finish"):
        await api.act(sid, action)
    await held_at(api, "STORE-UTR", [])
    (utr,) = await api.ok("GET", "/inventory?locationRef=STORE-UTR&skuRef=SKU-1")
    assert (utr["onHand"], utr["reservedByOrders"]) == (2, 0)


async def test_what_cannot_be_honoured_is_refused_naming_why(api: ApiClient) -> None:
    await network(api)
    sid = await pickup_session(api)
    for body, status, code, field in (
        (move(sid, pickupTime="2020-01-01T10:00:00+00:00"), 409, "PICKUP_TOO_EARLY", "changes.pickupTime"),
        (move(sid, items=[{"sku": "SKU-1", "quantity": 10}]), 409, "NO_STOCK", "changes.items"),
        (move(sid, locationRef="WH"), 409, "NOT_A_PICKUP_LOCATION", "changes.locationRef"),
        (move(sid, locationRef="NOWHERE"), 404, "LOCATION_NOT_FOUND", "changes.locationRef"),
        (move("ses_unknown", locationRef="STORE-UTR"), 404, "SESSION_NOT_FOUND", "sessionId"),
        ({**move(sid), "changes": {}}, 400, None, "changes"),
        ({**move(sid, locationRef="STORE-UTR"), "proposedBy": "robot"}, 400, None, "proposedBy"),
        ({**move(sid, locationRef="STORE-UTR"), "expiresInSeconds": 5}, 400, None, "expiresInSeconds"),
        (move(sid, pickupTime="2030-06-03T10:00:00"), 400, None, "changes.pickupTime"),  # no offset
        (move(sid, pickupTime="9999-12-31T23:59:59+14:00"), 400, None, "changes.pickupTime"),
        (move(sid, pickupTime=12345), 400, None, "changes.pickupTime"),  # not seconds since 1970
        (move(sid, locationRef="STORE-UTR", items=None), 400, None, "changes.items"),  # null: leave it out
        (move(sid, pickupTime="2099-06-01T10:00:00+00:00"), 409, "PICKUP_TOO_LATE", "changes.pickupTime"),
    ):
        reply = await api.post(PROPOSE, body)
        assert reply.status == status, (body, reply.body)
        error = reply.body["errors"][0]
        assert error["field"] == field and (code is None or error["code"] == code), (body, error)
    saturday = datetime.now(UTC).date() + timedelta(days=12 - datetime.now(UTC).weekday())
    closed = await api.post(PROPOSE, move(sid, pickupTime=f"{saturday}T10:00:00+01:00"))
    assert closed.status == 409 and closed.body["errors"][0]["code"] == "LOCATION_CLOSED"
    other_cart = await api.post("/carts/cart-other/propose_change", move(sid, locationRef="STORE-UTR"))
    assert other_cart.status == 404 and other_cart.body["errors"][0]["code"] == "SESSION_NOT_FOUND"
    web = await api.new_session("WEB_ORDER", cart_id=CART)
    no_pickup = await api.post(PROPOSE, move(web["id"], locationRef="STORE-UTR"))
    assert no_pickup.status == 409 and no_pickup.body["errors"][0]["code"] == "NO_PICKUP"
    unknown = await api.post(DECIDE, {"changeId": "chg_nothing", "decision": "accept"})
    assert unknown.status == 404 and unknown.body["errors"][0]["field"] == "changeId"
    maybe = await api.post(DECIDE, {"changeId": "chg_nothing", "decision": "maybe"})
    assert maybe.status == 400 and maybe.body["errors"][0]["field"] == "decision"
    await api.act(sid, "cancel")
    ended = await api.post(PROPOSE, move(sid, locationRef="STORE-UTR"))
    assert ended.status == 409 and ended.body["errors"][0]["code"] == "SESSION_ENDED"
