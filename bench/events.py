"""Webhook delivery: events per second, and latency from a session action to receipt at a loopback receiver.

Baseline, in the same run against the same receiver: a bare aiohttp POST loop with the same payload
size and concurrency (what delivering without durability, signing, ordering or retries costs).

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

from bench.stack import percentile, running_stack
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

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]


async def ours(sessions: int, actions: int, concurrency: int) -> dict[str, float]:
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
            ids = []
            for i in range(sessions):
                async with http.post(
                    f"{stack.base}/sessions", json={"processType": "WEB_ORDER", "cartId": f"c{i}"}
                ) as r:
                    ids.append((await r.json())["id"])
            receiver.expected = sessions
            await asyncio.wait_for(receiver.all_in.wait(), 60)  # the creations are in
            receiver.all_in.clear()
            receiver.expected = sessions * (1 + actions)
            sent: dict[str, float] = {}
            gate = asyncio.Semaphore(concurrency)

            async def walk(sid: str) -> None:
                for n, action in enumerate(ACTIONS[:actions], start=2):
                    async with gate:
                        sent[event_id(stack.tenant, sid, n)] = time.perf_counter()
                        async with http.post(
                            f"{stack.base}/sessions/{sid}/actions", json={"action": action}
                        ) as r:
                            assert r.status == 200, await r.text()

            began = time.perf_counter()
            await asyncio.gather(*(walk(sid) for sid in ids))
            await asyncio.wait_for(receiver.all_in.wait(), 120)
            latencies = [(receiver.arrived[k] - t) * 1000 for k, t in sent.items()]
            elapsed = max(receiver.arrived[k] for k in sent) - began
    finally:
        await runner.cleanup()
    size = sum(receiver.sizes) // len(receiver.sizes)
    return {
        "rate": len(sent) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
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
    base = await baseline(sessions * actions, int(mine["size"]), concurrency)
    return {
        "events": sessions * actions,
        "events_per_s": round(mine["rate"], 1),
        "p50_ms": round(mine["p50"], 1),
        "p99_ms": round(mine["p99"], 1),
        "baseline_posts_per_s": round(base["rate"], 1),
        "baseline_p50_ms": round(base["p50"], 2),
        "baseline_p99_ms": round(base["p99"], 2),
        "ratio": round(mine["rate"] / base["rate"], 4),
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
    print(f"ours:     {ours_line}")
    base = (
        f"{f['baseline_posts_per_s']} POSTs/s; p50 {f['baseline_p50_ms']} ms, p99 {f['baseline_p99_ms']} ms"
    )
    print(f"baseline: {base}")
    print(f"ratio:    {f['ratio']} (ours / bare POST loop)")
    print(json.dumps(f))
