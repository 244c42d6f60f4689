"""Webhook delivery: events per second, and latency from a session action to receipt at a loopback receiver.

Measured loaded (`--concurrency` actions in flight) and unloaded (one action at a time), on one stack.
Baseline, in the same run against the same receiver: a bare aiohttp POST loop with the same payload
size and concurrency (what delivering without durability, signing, ordering or retries costs).
Goals (issue #16): loaded p99 <= 300 ms, unloaded p99 <= 60 ms.

    python bench/events.py [--sessions 40] [--actions 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, percentile, running_stack
from domain.ids import event_id

ACTIONS = ("confirm", "pick", "pack", "ship", "deliver")


class Receiver:
    """Records when each webhook-id first arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.sizes: list[int] = []
        self.all_in = asyncio.Event()
        self.expected = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("webhook-id") or request.headers["x-id"]
        self.arrived.setdefault(key, time.perf_counter())
        self.sizes.append(len(body))
        if self.expected and len(self.arrived) >= self.expected:
            self.all_in.set()
        return web.Response(status=204)

    async def all_of(self, keys: set[str], seconds: float) -> None:
        """Wait (at most `seconds`) until each of these webhook-ids has arrived."""
        deadline = time.perf_counter() + seconds
        while any(k not in self.arrived for k in keys):
            await self.until(len(self.arrived) + 1, deadline - time.perf_counter())

    async def until(self, total: int, seconds: float) -> None:
        """Wait (at most `seconds`) until `total` webhook-ids have arrived in all."""
        self.all_in.clear()
        self.expected = total
        if len(self.arrived) < total:
            await asyncio.wait_for(self.all_in.wait(), seconds)

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]


async def ours(sessions: int, actions: int, concurrency: int) -> dict[str, dict[str, float]]:
    receiver = Receiver()
    runner, url = await receiver.start()
    try:
        async with (
            running_stack("bench-events") as stack,
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.key}"}) as http,
        ):
            async with http.post(
                f"{stack.base}/webhooks", json={"url": url, "eventTypes": ["session.*"]}
            ) as r:
                assert r.status == 201, await r.text()
            figures = {}
            for name, parallel, count in (
                ("unloaded", 1, max(sessions // 4, 5)),
                ("loaded", concurrency, sessions),
            ):
                figures[name] = await _walks(http, stack, receiver, name, count, actions, parallel)
    finally:
        await runner.cleanup()
    return figures


async def _walks(
    http: aiohttp.ClientSession,
    stack: Stack,
    receiver: Receiver,
    name: str,
    sessions: int,
    actions: int,
    concurrency: int,
) -> dict[str, float]:
    """Start `sessions` sessions, then take each through `actions` actions, `concurrency` at a time;
    the latency of each action is from its request to its event's receipt."""
    ids = []
    before = len(receiver.arrived)
    for i in range(sessions):
        async with http.post(
            f"{stack.base}/sessions", json={"processType": "WEB_ORDER", "cartId": f"{name}-{i}"}
        ) as r:
            ids.append((await r.json())["id"])
    await receiver.until(before + sessions, 60)  # the creations are in
    arrived = asyncio.create_task(receiver.until(before + sessions * (1 + actions), 120))
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}  # when the action's own answer came
    gate = asyncio.Semaphore(concurrency)

    async def walk(sid: str) -> None:
        for n, action in enumerate(ACTIONS[:actions], start=2):
            async with gate:
                key = event_id(stack.tenant, sid, n)
                sent[key] = time.perf_counter()
                async with http.post(f"{stack.base}/sessions/{sid}/actions", json={"action": action}) as r:
                    assert r.status == 200, await r.text()
                answered[key] = time.perf_counter()

    began = time.perf_counter()
    await asyncio.gather(*(walk(sid) for sid in ids))
    await arrived
    latencies = [(receiver.arrived[k] - t) * 1000 for k, t in sent.items()]
    actions_ms = [(answered[k] - t) * 1000 for k, t in sent.items()]
    elapsed = max(receiver.arrived[k] for k in sent) - began
    size = sum(receiver.sizes) // len(receiver.sizes)
    return {
        "rate": len(sent) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "action_p50": percentile(actions_ms, 0.5),
        "action_p99": percentile(actions_ms, 0.99),
        "size": size,
    }


async def baseline(count: int, size: int, concurrency: int) -> dict[str, float]:
    receiver = Receiver()
    runner, url = await receiver.start()
    body = json.dumps({"data": "x" * max(size - 12, 0)}).encode()
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    try:
        async with aiohttp.ClientSession() as http:

            async def post(i: int) -> None:
                async with gate:
                    started = time.perf_counter()
                    async with http.post(url, data=body, headers={"x-id": str(i)}) as r:
                        assert r.status == 204
                    latencies.append((time.perf_counter() - started) * 1000)

            began = time.perf_counter()
            await asyncio.gather(*(post(i) for i in range(count)))
            elapsed = time.perf_counter() - began
    finally:
        await runner.cleanup()
    return {"rate": count / elapsed, "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)}


async def main(sessions: int, actions: int, concurrency: int) -> dict[str, float]:
    mine = await ours(sessions, actions, concurrency)
    loaded, unloaded = mine["loaded"], mine["unloaded"]
    base = await baseline(sessions * actions, int(loaded["size"]), concurrency)
    return {
        "events": sessions * actions,
        "events_per_s": round(loaded["rate"], 1),
        "p50_ms": round(loaded["p50"], 1),
        "p99_ms": round(loaded["p99"], 1),
        "action_p50_ms": round(loaded["action_p50"], 1),
        "action_p99_ms": round(loaded["action_p99"], 1),
        "unloaded_p50_ms": round(unloaded["p50"], 1),
        "unloaded_p99_ms": round(unloaded["p99"], 1),
        "baseline_posts_per_s": round(base["rate"], 1),
        "baseline_p50_ms": round(base["p50"], 2),
        "baseline_p99_ms": round(base["p99"], 2),
        "ratio": round(loaded["rate"] / base["rate"], 4),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--actions", type=int, default=5, choices=range(1, 6))
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    f = asyncio.run(main(args.sessions, args.actions, args.concurrency))
    ours_line = f"{f['events_per_s']} events/s; action to receipt p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms"
    print(f"ours:     {ours_line} ({args.concurrency} actions in flight; goal p99 <= 300 ms)")
    print(f"          the actions' own answers: p50 {f['action_p50_ms']} ms, p99 {f['action_p99_ms']} ms")
    print(
        f"unloaded: action to receipt p50 {f['unloaded_p50_ms']} ms, p99 {f['unloaded_p99_ms']} ms "
        "(one action at a time; goal p99 <= 60 ms)"
    )
    base = (
        f"{f['baseline_posts_per_s']} POSTs/s; p50 {f['baseline_p50_ms']} ms, p99 {f['baseline_p99_ms']} ms"
    )
    print(f"baseline: {base}")
    print(f"ratio:    {f['ratio']} (ours / bare POST loop)")
    print(json.dumps(f))
