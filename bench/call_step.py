"""What a `call` step adds to an action, unloaded: issue #11's yardstick (at most 30 ms beyond the
partner's own time).

Two processes on the same stack, one session at a time, alternating: PLAIN's action `go` ends the
session; CALLED's `go` enters a state whose `call` step POSTs to a loopback partner and whose
`onSuccess` ends it. Each is timed from the action's request to the session workflow's result (its
end), so both include the same start of the action and the same end; the difference is the call
step (activity dispatch, the request, recording the attempt, the transition), less the partner's
own handler time, measured inside the partner.

    python bench/call_step.py [--sessions 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, free_port, percentile, running_stack
from domain.ids import session_workflow_id

GOAL_MS = 30.0
answered: dict[str, list[float]] = {}  # ms from each action's request to its answer, by process


def process(type_: str, called: bool) -> dict[str, Any]:
    call = {"kind": "call", "connector": "bench", "path": "/orders", "body": {"ref": "{{session.id}}"}}
    states: list[dict[str, Any]] = [{"name": "NEW"}, {"name": "DONE"}, {"name": "FAILED"}]
    transitions = [{"from": "NEW", "action": "go", "to": "CALLING" if called else "DONE"}]
    if called:
        states.append({"name": "CALLING", "steps": [{**call, "onSuccess": "finish", "onFailure": "fail"}]})
        transitions += [
            {"from": "CALLING", "action": "finish", "to": "DONE"},
            {"from": "CALLING", "action": "fail", "to": "FAILED"},
        ]
    else:
        transitions.append({"from": "NEW", "action": "fail", "to": "FAILED"})
    return {
        "type": type_,
        "states": states,
        "initialState": "NEW",
        "terminalStates": ["DONE", "FAILED"],
        "transitions": transitions,
    }


async def one(
    stack: Stack, http: aiohttp.ClientSession, type_: str, began_at: list[float] | None = None
) -> float:
    """Milliseconds from the action's request to the session's end."""
    cart = f"cart-{uuid.uuid4().hex[:8]}"
    async with http.post(f"{stack.base}/sessions", json={"processType": type_, "cartId": cart}) as r:
        assert r.status == 201, await r.text()
        sid = str((await r.json())["id"])
    handle = stack.client.get_workflow_handle(session_workflow_id(stack.tenant, sid))
    while (await handle.describe()).raw_description.HasField("pending_workflow_task"):  # noqa: ASYNC110 (polls the server)
        await asyncio.sleep(0.005)  # until the creation is recorded: the action meets a quiet session
    began = time.perf_counter()
    if began_at is not None:
        began_at.append(began)
    async with http.post(f"{stack.base}/sessions/{sid}/actions", json={"action": "go"}) as r:
        assert r.status == 200, await r.text()
    answered.setdefault(type_, []).append((time.perf_counter() - began) * 1000)
    await handle.result()
    return (time.perf_counter() - began) * 1000


async def main(sessions: int) -> dict[str, Any]:
    handled: list[float] = []
    arrived: list[float] = []  # when each call reached the partner (perf_counter)

    async def orders(request: web.Request) -> web.Response:
        began = time.perf_counter()
        arrived.append(began)
        body = await request.json()
        answer = web.json_response({"orderId": f"O-{body['ref']}"}, status=201)
        handled.append((time.perf_counter() - began) * 1000)
        return answer

    partner = web.Application()
    partner.router.add_post("/orders", orders)
    runner = web.AppRunner(partner)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with (
            running_stack("bench-calls") as stack,
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.key}"}) as http,
        ):
            connector = {
                "name": "bench",
                "kind": "HTTP",
                "baseUrl": f"http://127.0.0.1:{port}",
                "auth": {"type": "none"},
            }
            async with http.post(f"{stack.base}/connectors", json=connector) as r:
                assert r.status == 201, await r.text()
            for type_, called in (("PLAIN", False), ("CALLED", True)):
                async with http.post(f"{stack.base}/processes", json=process(type_, called)) as r:
                    assert r.status == 201, await r.text()
            for type_ in ("PLAIN", "CALLED"):  # warm up both paths
                await one(stack, http, type_)
            handled.clear()
            answered.clear()
            plain: list[float] = []
            called_ms: list[float] = []
            starts: list[float] = []
            arrived.clear()
            for _ in range(sessions):
                plain.append(await one(stack, http, "PLAIN"))
                called_ms.append(await one(stack, http, "CALLED", starts))
    finally:
        await runner.cleanup()
    partner_ms = statistics.median(handled)
    reach = statistics.median((a - b) * 1000 for a, b in zip(arrived, starts, strict=True))
    added = statistics.median(called_ms) - statistics.median(plain) - partner_ms
    return {
        "sessions": sessions,
        "plain_p50_ms": round(statistics.median(plain), 2),
        "plain_p95_ms": round(percentile(plain, 0.95), 2),
        "called_p50_ms": round(statistics.median(called_ms), 2),
        "called_p95_ms": round(percentile(called_ms, 0.95), 2),
        "partner_p50_ms": round(partner_ms, 3),
        "reached_partner_p50_ms": round(reach, 2),
        "added_p50_ms": round(added, 2),
        "answer_plain_p50_ms": round(statistics.median(answered["PLAIN"]), 2),
        "answer_called_p50_ms": round(statistics.median(answered["CALLED"]), 2),
        "goal_added_ms": GOAL_MS,
        "met": added <= GOAL_MS,
        "ratio": round(statistics.median(called_ms) / statistics.median(plain), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=60)
    f = asyncio.run(main(parser.parse_args().sessions))
    print(f"action that ends the session (baseline): p50 {f['plain_p50_ms']} ms, p95 {f['plain_p95_ms']} ms")
    print(
        f"action whose state calls a partner, then ends: p50 {f['called_p50_ms']} ms, "
        f"p95 {f['called_p95_ms']} ms"
    )
    print(f"the partner's own time: p50 {f['partner_p50_ms']} ms")
    print(f"from the action to the call reaching the partner: p50 {f['reached_partner_p50_ms']} ms")
    print(
        f"added by the call step: {f['added_p50_ms']} ms "
        f"(goal <= {GOAL_MS} ms: {'met' if f['met'] else 'NOT MET'})"
    )
    print(
        f"the action's own answer: p50 {f['answer_called_p50_ms']} ms entering the calling state, "
        f"{f['answer_plain_p50_ms']} ms the other"
    )
    print(f"ratio: {f['ratio']} (ours over the baseline's)")
    print(json.dumps(f))
