"""A process written in Python (the installed example, `examples/locker_process`), driven through the
API like any other: listed with `kind: code`, started, moved by its own code and by actions."""

from __future__ import annotations

import uuid

from tests.support import ApiClient, eventually


async def test_the_example_code_process_is_listed_and_walked_through_the_api(api: ApiClient) -> None:
    listed = {p["type"]: p for p in await api.ok("GET", "/processes")}
    assert listed["LOCKER_PICKUP"]["kind"] == "code" and listed["WEB_ORDER"]["kind"] == "data"
    cart = f"cart-{uuid.uuid4().hex[:6]}"
    started = await api.ok("POST", "/sessions", {"processType": "LOCKER_PICKUP", "cartId": cart}, 201)
    assert started["status"] == "ASSIGNING" and started["allowedActions"] == ["cancel"]
    forged = await api.post(
        f"/sessions/{started['id']}/actions", {"action": "assign", "data": {"compartment": 99}}
    )
    assert forged.status == 409 and forged.body["allowedActions"] in (["cancel"], ["collect", "cancel"])

    async def ready() -> bool:
        return (await api.ok("GET", f"/sessions/{started['id']}"))["status"] == "READY"

    await eventually(ready, what="the process to assign a compartment")
    view = await api.ok("GET", f"/sessions/{started['id']}")
    assert 1 <= view["context"]["compartment"] <= 24 and view["allowedActions"] == ["collect", "cancel"]
    for internal in ("assign", "expire"):  # the process's own actions (`system`): not an API caller's
        refused = await api.post(f"/sessions/{started['id']}/actions", {"action": internal})
        assert refused.status == 409 and refused.body["allowedActions"] == ["collect", "cancel"]
    done = await api.ok("POST", f"/sessions/{started['id']}/actions", {"action": "collect"})
    assert done["status"] == "COLLECTED" and done["terminal"]
    trail = await api.ok("GET", f"/carts/{cart}/revisions")
    assert [(r["action"], r["actor"]) for r in trail][:2] == [
        ("create", trail[0]["actor"]),
        ("assign", "system:process"),
    ]
    assert trail[1]["data"] == {"compartment": view["context"]["compartment"]}


async def test_a_code_process_cannot_be_registered_over_or_versioned(api: ApiClient) -> None:
    body = {
        "type": "LOCKER_PICKUP",
        "states": [{"name": "A"}],
        "initialState": "A",
        "terminalStates": ["A"],
        "transitions": [],
    }
    taken = await api.post("/processes", body)
    assert taken.status == 409 and taken.body["errors"][0]["field"] == "type"
    coded = await api.post("/processes", {**body, "type": "MINE", "kind": "code"})
    assert coded.status == 400 and coded.body["errors"][0]["field"] == "kind"
    assert (await api.get("/processes/LOCKER_PICKUP/versions/2")).status == 404
    assert (await api.ok("GET", "/processes/LOCKER_PICKUP"))["kind"] == "code"
