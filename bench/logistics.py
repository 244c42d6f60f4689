"""Logistics latency, both flows of the 3PL seed (issue #12).

Pricing: the API asks both carriers at once, so a pricing should take about as long as the slower
carrier alone (p50 within 20 ms of it). The sandbox's two carriers answer after 50 ms and 150 ms
(fault latency). The baseline is the slower carrier asked directly by this process, one request at
a time; ours is `POST /v3/fulfillment/pricing/domestic` through the API, alternating with it.

Outbound: RECEIVED to CONFIRMED with an instant OMS (the sandbox's, confirming at once). Ours: `POST
/v3/fulfillment/outbound/oms` until the client's `outbound.confirmed` webhook arrives here (the
workflow calls the OMS, the OMS's signed event comes back, the webhook goes out). The baseline is
the same OMS asked directly: its order created until its `outbound.confirmed` event arrives here,
what a client talking to the OMS itself would wait. Alternating, one outbound at a time.

    python bench/logistics.py [--requests 40] [--outbounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import free_port, percentile, running_stack
from sandbox.app import CARRIERS_PATH, OMS_PATH, WMS_PATH, create_app

GOAL_MS = 20.0
LATENCY = {"swift": 50, "budget": 150}
ASK = {
    "origin": {"postcode": "1011 AB", "city": "Amsterdam", "country": "NL"},
    "destination": {"postcode": "3011", "city": "Rotterdam", "country": "NL"},
    "weightKg": 2.5,
    "dimensionsCm": {"length": 30, "width": 20, "height": 10},
    "serviceType": "STANDARD",
}


async def timed(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> float:
    began = time.perf_counter()
    async with http.post(url, json=body) as r:
        assert r.status == 200, await r.text()
        await r.read()
    return (time.perf_counter() - began) * 1000


class Arrivals:
    """Where the client's webhooks and the directly asked OMS's events arrive: each awaited by its
    trackingIdShipper."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, tid: str) -> asyncio.Future[float]:
        self.waiting[tid] = asyncio.get_running_loop().create_future()
        return self.waiting[tid]

    async def arrive(self, request: web.Request) -> web.Response:
        at = time.perf_counter()
        body = await request.json()
        data = body.get("data", {})
        tid = data.get("trackingIdShipper") or body.get("reference")
        if body.get("type") == "outbound.confirmed" and tid in self.waiting and not self.waiting[tid].done():
            self.waiting[tid].set_result(at)
        return web.Response(status=204)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def outbound(n: int) -> dict[str, Any]:
    return {
        "trackingIdShipper": f"BENCH-{n}-{time.monotonic_ns()}",
        "type": "OUTBOUND",
        "consignee": {
            "name": "B",
            "address1": "Damrak 1",
            "city": "Amsterdam",
            "postcode": "1012",
            "country": "NL",
        },
        "items": [{"sku": "SKU-1", "quantity": 1}],
    }


async def outbounds(stack: Any, plain: aiohttp.ClientSession, count: int) -> tuple[list[float], list[float]]:
    """RECEIVED -> CONFIRMED through the orchestrator, and the same OMS asked directly."""
    arrivals = Arrivals()
    here = web.Application()
    here.router.add_post("/hooks", arrivals.arrive)
    here.router.add_post("/oms-events", arrivals.arrive)
    runners = []
    try:
        for app in (create_app([]), create_app([]), here):
            runners.append(await serve(app))
        (_, ours_sandbox), (_, direct_sandbox), (_, receiver) = runners
        key = {"Authorization": f"Bearer {stack.key}"}
        made = {}
        for name, kind, path in (("oms", "OMS", OMS_PATH), ("wms", "WMS", WMS_PATH)):
            body = {"name": name, "kind": kind, "baseUrl": ours_sandbox + path, "auth": {"type": "none"}}
            async with plain.post(f"{stack.base}/connectors", json=body, headers=key) as r:
                assert r.status == 201, await r.text()
                made[name] = await r.json()
        hook = {"url": f"{receiver}/hooks", "eventTypes": ["outbound.confirmed"]}
        async with plain.post(f"{stack.base}/webhooks", json=hook, headers=key) as r:
            assert r.status == 201, await r.text()
        events = f"{stack.base}/partners/{made['oms']['id']}/events"
        configs = (
            (ours_sandbox, {"eventsUrl": events, "secret": made["oms"]["inboundSecret"]}),
            (direct_sandbox, {"eventsUrl": f"{receiver}/oms-events", "secret": made["oms"]["inboundSecret"]}),
        )
        for sandbox, config in configs:
            async with plain.put(f"{sandbox}{OMS_PATH}/config", json=config) as r:
                assert r.status == 200, await r.text()
        ours, baseline = [], []
        for n in range(count + 3):  # the first three warm both paths up
            body = outbound(n)
            confirmed = arrivals.expect(str(body["trackingIdShipper"]))
            began = time.perf_counter()
            async with plain.post(f"{stack.base}/v3/fulfillment/outbound/oms", json=body, headers=key) as r:
                assert r.status == 202, await r.text()
            took = (await asyncio.wait_for(confirmed, 30) - began) * 1000
            direct = outbound(n)
            answered = arrivals.expect(str(direct["trackingIdShipper"]))
            began = time.perf_counter()
            headers = {"Idempotency-Key": str(direct["trackingIdShipper"])}
            async with plain.post(
                f"{direct_sandbox}{OMS_PATH}/outbound-orders", json=direct, headers=headers
            ) as r:
                assert r.status == 201, await r.text()
            floor = (await asyncio.wait_for(answered, 30) - began) * 1000
            if n >= 3:
                ours.append(took)
                baseline.append(floor)
        return ours, baseline
    finally:
        for runner, _ in runners:
            await runner.cleanup()


async def main(requests: int, outbound_count: int) -> dict[str, Any]:
    runner, sandbox = await serve(create_app([]))
    try:
        async with running_stack("bench-logistics") as stack, aiohttp.ClientSession() as plain:
            key = {"Authorization": f"Bearer {stack.key}"}
            for name, ms in LATENCY.items():
                async with plain.put(f"{sandbox}/faults/{name}", json={"latencyMs": ms}) as r:
                    assert r.status == 200
                connector = {
                    "name": name,
                    "kind": "CARRIER",
                    "baseUrl": f"{sandbox}{CARRIERS_PATH}/{name}",
                    "auth": {"type": "none"},
                }
                async with plain.post(f"{stack.base}/connectors", json=connector, headers=key) as r:
                    assert r.status == 201, await r.text()
            pricing = f"{stack.base}/v3/fulfillment/pricing/domestic"
            slowest = f"{sandbox}{CARRIERS_PATH}/budget/rates"
            async with aiohttp.ClientSession(headers=key) as http:
                for _ in range(3):  # warm up both paths
                    await timed(http, pricing, ASK)
                    await timed(plain, slowest, ASK)
                ours, baseline = [], []
                for _ in range(requests):
                    ours.append(await timed(http, pricing, ASK))
                    baseline.append(await timed(plain, slowest, ASK))
            confirmed, direct = await outbounds(stack, plain, outbound_count)
    finally:
        await runner.cleanup()
    over = statistics.median(ours) - statistics.median(baseline)
    return {
        "requests": requests,
        "carrier_latency_ms": LATENCY,
        "pricing_p50_ms": round(statistics.median(ours), 2),
        "pricing_p95_ms": round(percentile(ours, 0.95), 2),
        "slowest_carrier_p50_ms": round(statistics.median(baseline), 2),
        "over_slowest_p50_ms": round(over, 2),
        "goal_over_ms": GOAL_MS,
        "met": over <= GOAL_MS,
        "outbounds": outbound_count,
        "outbound_confirmed_p50_ms": round(statistics.median(confirmed), 2),
        "outbound_confirmed_p95_ms": round(percentile(confirmed, 0.95), 2),
        "oms_direct_p50_ms": round(statistics.median(direct), 2),
        "outbound_ratio": round(statistics.median(confirmed) / statistics.median(direct), 3),
        "ratio": round(statistics.median(ours) / statistics.median(baseline), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--outbounds", type=int, default=30)
    args = parser.parse_args()
    f = asyncio.run(main(args.requests, args.outbounds))
    print(
        f"pricing through the API, two carriers at 50 and 150 ms: p50 {f['pricing_p50_ms']} ms, "
        f"p95 {f['pricing_p95_ms']} ms"
    )
    print(f"the slower carrier asked directly (baseline): p50 {f['slowest_carrier_p50_ms']} ms")
    print(
        f"over the slower carrier: {f['over_slowest_p50_ms']} ms "
        f"(goal <= {GOAL_MS} ms: {'met' if f['met'] else 'NOT MET'})"
    )
    print(
        f"outbound RECEIVED -> CONFIRMED (client webhook) with an instant OMS: p50 "
        f"{f['outbound_confirmed_p50_ms']} ms, p95 {f['outbound_confirmed_p95_ms']} ms"
    )
    print(
        f"the OMS asked directly, until its confirmation arrives (baseline): p50 {f['oms_direct_p50_ms']} ms "
        f"(outbound ratio {f['outbound_ratio']})"
    )
    print(f"ratio: {f['ratio']} (pricing, ours over the baseline's)")
    print(json.dumps(f))
