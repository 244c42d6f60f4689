"""Logistics pricing latency: the API asks both carriers at once, so a pricing should take about as
long as the slower carrier alone (issue #12: p50 within 20 ms of it).

The sandbox's two carriers answer after 50 ms and 150 ms (fault latency). The baseline is the slower
carrier asked directly by this process, one request at a time; ours is `POST
/v3/fulfillment/pricing/domestic` through the API, alternating with it.

    python bench/logistics.py [--requests 40]
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
from sandbox.app import CARRIERS_PATH, create_app

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


async def main(requests: int) -> dict[str, Any]:
    runner = web.AppRunner(create_app([]))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sandbox = f"http://127.0.0.1:{port}"
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
        "ratio": round(statistics.median(ours) / statistics.median(baseline), 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    f = asyncio.run(main(parser.parse_args().requests))
    print(
        f"pricing through the API, two carriers at 50 and 150 ms: p50 {f['pricing_p50_ms']} ms, "
        f"p95 {f['pricing_p95_ms']} ms"
    )
    print(f"the slower carrier asked directly (baseline): p50 {f['slowest_carrier_p50_ms']} ms")
    print(
        f"over the slower carrier: {f['over_slowest_p50_ms']} ms "
        f"(goal <= {GOAL_MS} ms: {'met' if f['met'] else 'NOT MET'})"
    )
    print(f"ratio: {f['ratio']} (ours over the baseline's)")
    print(json.dumps(f))
