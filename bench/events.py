"""Webhook delivery: events per second, and latency from a session action to receipt at a loopback receiver.

Measured loaded (`--concurrency` actions in flight) and unloaded (one action at a time), on one stack.
Baselines, in the same run:
- Temporal's floor for the same walk on the same dev server: a bare workflow whose Update runs one
  local activity that POSTs the event to the receiver (in a worker process of its own; no storage,
  no signing, no ordering, no retries), its receipt timed the same way. `ratio` is our loaded p99
  over the floor's: what durability, the log, signing and per-subject order cost on top of Temporal.
- a bare aiohttp POST loop with the same payload size and concurrency (no Temporal at all).
Goals (issue #16): loaded p99 <= 300 ms, unloaded p99 <= 60 ms.

    python bench/events.py [--sessions 40] [--actions 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, percentile, running_stack
from domain.ids import event_id

ACTIONS = ("confirm", "pick", "pack", "ship", "deliver")
FLOOR_QUEUE = "bench-events-floor"


@dataclass
class FloorPost:
    url: str
    key: str
    body: str


@activity.defn(name="bench_floor_post")
async def floor_post(post: FloorPost) -> None:
    async with _FLOOR_HTTP[0].post(post.url, data=post.body, headers={"x-id": post.key}) as r:
        assert r.status == 204


_FLOOR_HTTP: list[aiohttp.ClientSession] = []


@workflow.defn(name="BenchWebhookFloor", sandboxed=False)
class FloorWorkflow:
    """Temporal's floor for action to receipt: each Update runs one local activity POSTing the event."""

    def __init__(self) -> None:
        self.actions = 0

    @workflow.run
    async def run(self, actions: int) -> int:
        await workflow.wait_condition(lambda: self.actions >= actions and workflow.all_handlers_finished())
        return self.actions

    @workflow.update
    async def act(self, post: FloorPost) -> int:
        await workflow.execute_local_activity(floor_post, post, start_to_close_timeout=timedelta(seconds=15))
        self.actions += 1
        return self.actions


async def floor_worker(address: str, namespace: str) -> None:
    """The floor's own worker process (started by this script with --worker)."""
    client = await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
    async with aiohttp.ClientSession() as http:
        _FLOOR_HTTP.append(http)
        async with Worker(client, task_queue=FLOOR_QUEUE, workflows=[FloorWorkflow], activities=[floor_post]):
            await asyncio.Event().wait()


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
            target = stack.client.service_client.config.target_host
            worker = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", target, stack.client.namespace
            )
            try:
                size = int(figures["loaded"]["size"])
                await _floor_walks(
                    stack.client, receiver, url, concurrency, concurrency, actions, size
                )  # warm
                for name, parallel, count in (
                    ("floor_unloaded", 1, max(sessions // 4, 5)),
                    ("floor_loaded", concurrency, sessions),
                ):
                    figures[name] = await _floor_walks(
                        stack.client, receiver, url, count, parallel, actions, size
                    )
            finally:
                worker.terminate()
                await worker.wait()
    finally:
        await runner.cleanup()
    return figures


async def _floor_walks(
    client: Client, receiver: Receiver, url: str, sessions: int, concurrency: int, actions: int, size: int
) -> dict[str, float]:
    """The floor's walk: `sessions` workflows, each through `actions` Updates, `concurrency` at a time;
    the latency of each from its Update call to its POST's receipt."""
    handles = [
        await client.start_workflow(
            FloorWorkflow.run, actions, id=f"floor-{uuid.uuid4().hex}", task_queue=FLOOR_QUEUE
        )
        for _ in range(sessions)
    ]
    body = json.dumps({"data": "x" * max(size - 12, 0)})
    sent: dict[str, float] = {}
    gate = asyncio.Semaphore(concurrency)

    async def walk(handle: Any) -> None:
        for n in range(actions):
            async with gate:
                key = f"{handle.id}/{n}"
                sent[key] = time.perf_counter()
                await handle.execute_update(FloorWorkflow.act, FloorPost(url=url, key=key, body=body))

    began = time.perf_counter()
    await asyncio.gather(*(walk(h) for h in handles))
    await receiver.all_of(set(sent), 60)
    latencies = [(receiver.arrived[k] - t) * 1000 for k, t in sent.items()]
    elapsed = max(receiver.arrived[k] for k in sent) - began
    return {
        "rate": len(sent) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


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
    floor, floor_unloaded = mine["floor_loaded"], mine["floor_unloaded"]
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
        "floor_events_per_s": round(floor["rate"], 1),
        "floor_p50_ms": round(floor["p50"], 1),
        "floor_p99_ms": round(floor["p99"], 1),
        "floor_unloaded_p50_ms": round(floor_unloaded["p50"], 1),
        "floor_unloaded_p99_ms": round(floor_unloaded["p99"], 1),
        "baseline_posts_per_s": round(base["rate"], 1),
        "baseline_p50_ms": round(base["p50"], 2),
        "baseline_p99_ms": round(base["p99"], 2),
        "ratio": round(loaded["p99"] / floor["p99"], 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--actions", type=int, default=5, choices=range(1, 6))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--worker", nargs=2, metavar=("ADDRESS", "NAMESPACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(floor_worker(*args.worker))
        sys.exit(0)
    f = asyncio.run(main(args.sessions, args.actions, args.concurrency))
    ours_line = f"{f['events_per_s']} events/s; action to receipt p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms"
    print(f"ours:     {ours_line} ({args.concurrency} actions in flight; goal p99 <= 300 ms)")
    print(f"          the actions' own answers: p50 {f['action_p50_ms']} ms, p99 {f['action_p99_ms']} ms")
    print(
        f"unloaded: action to receipt p50 {f['unloaded_p50_ms']} ms, p99 {f['unloaded_p99_ms']} ms "
        "(one action at a time; goal p99 <= 60 ms)"
    )
    floor_line = f"{f['floor_events_per_s']} events/s; p50 {f['floor_p50_ms']} ms, p99 {f['floor_p99_ms']} ms"
    print(f"floor:    {floor_line} (a bare workflow's Update POSTing from a local activity, same server)")
    print(f"          unloaded: p50 {f['floor_unloaded_p50_ms']} ms, p99 {f['floor_unloaded_p99_ms']} ms")
    base = (
        f"{f['baseline_posts_per_s']} POSTs/s; p50 {f['baseline_p50_ms']} ms, p99 {f['baseline_p99_ms']} ms"
    )
    print(f"bare:     {base} (an aiohttp POST loop, no Temporal)")
    print(f"ratio:    {f['ratio']} (our loaded p99 / the floor's)")
    print(json.dumps(f))
