"""POST /api/v4.1/fulfilmentOptions at 2,000 locations: latency through the API against the engine alone.

The API path adds HTTP, authentication, validation, the network version check, the answer's shape and
storing it; the baseline is the same engine call in-process on the same network, in the same run.
The goal (issue #16): p50 <= 10 ms and p99 <= 25 ms through the API at 2,000 locations, 20 lines.

    python bench/options_api.py [--requests 300] [--locations 2000] [--lines 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import percentile, running_stack
from domain.sourcing.engine import source
from domain.sourcing.model import Line, SourcingProfile, SourcingRequest
from domain.sourcing.synthetic import CATALOGUE, WHEN, network

GOAL_P50_MS, GOAL_P99_MS = 10.0, 25.0


async def main(requests: int, size: int, lines: int) -> dict[str, float]:
    rng = np.random.default_rng(11)
    net = network(rng, size, "dc_rich", 0.3)
    locations = [
        {
            "ref": ref,
            "type": "STORE",
            "latitude": float(np.degrees(net.lat[i])),
            "longitude": float(np.degrees(net.lon[i])),
        }
        for i, ref in enumerate(net.refs)
    ]
    positions = [
        {"locationRef": net.refs[i], "skuRef": sku, "onHand": int(q)}
        for sku, vector in net.stock.items()
        for i, q in enumerate(vector)
        if q > 0
    ]
    orders: list[dict[str, Any]] = []
    for _ in range(requests):
        skus = rng.choice(CATALOGUE, lines, replace=False)
        orders.append(
            {
                "orderType": "HD",
                "limit": 5,
                "address": {"latitude": float(rng.uniform(45, 54)), "longitude": float(rng.uniform(2, 16))},
                "items": [{"skuRef": f"S{s}", "requestedQuantity": int(rng.integers(1, 4))} for s in skus],
                "attributes": [{"name": "handlingTime", "type": "STRING", "value": WHEN.isoformat()}],
            }
        )
    async with (
        running_stack("bench-options") as stack,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.key}"}) as http,
    ):
        async with http.put(f"{stack.base}/locations", json={"locations": locations}) as r:
            assert r.status == 200, await r.text()
        for start in range(0, len(positions), 50_000):
            async with http.put(
                f"{stack.base}/inventory", json={"positions": positions[start : start + 50_000]}
            ) as r:
                assert r.status == 200, await r.text()
        api_ms = []
        for n, body in enumerate(orders):
            began = time.perf_counter()
            async with http.post(f"{stack.base}/api/v4.1/fulfilmentOptions", json=body) as r:
                assert r.status == 200, await r.text()
                await r.read()
            if n:  # the first request builds the replica's network snapshot
                api_ms.append((time.perf_counter() - began) * 1000)
    engine_ms = []
    profile = SourcingProfile()
    for body in orders:
        request = SourcingRequest(
            order_type="HD",
            lines=[Line(sku_ref=i["skuRef"], quantity=i["requestedQuantity"]) for i in body["items"]],
            latitude=body["address"]["latitude"],
            longitude=body["address"]["longitude"],
            limit=5,
            handling_time=WHEN,
        )
        began = time.perf_counter()
        source(net, request, profile)
        engine_ms.append((time.perf_counter() - began) * 1000)
    api_p50, api_p99 = percentile(api_ms, 0.5), percentile(api_ms, 0.99)
    return {
        "locations": size,
        "lines": lines,
        "api_p50_ms": round(api_p50, 2),
        "api_p99_ms": round(api_p99, 2),
        "engine_p50_ms": round(percentile(engine_ms, 0.5), 2),
        "engine_p99_ms": round(percentile(engine_ms, 0.99), 2),
        "ratio": round(api_p50 / percentile(engine_ms, 0.5), 2),
        "goal_met": api_p50 <= GOAL_P50_MS and api_p99 <= GOAL_P99_MS,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--locations", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=20)
    args = parser.parse_args()
    f = asyncio.run(main(args.requests, args.locations, args.lines))
    print(f"API:    p50 {f['api_p50_ms']} ms, p99 {f['api_p99_ms']} ms")
    print(f"engine: p50 {f['engine_p50_ms']} ms, p99 {f['engine_p99_ms']} ms (in-process, same network)")
    print(f"ratio:  {f['ratio']} (API p50 / engine p50)")
    verdict = "met" if f["goal_met"] else "NOT met"
    print(f"goal:   API p50 <= {GOAL_P50_MS:g} ms, p99 <= {GOAL_P99_MS:g} ms: {verdict}")
    print(json.dumps(f))
