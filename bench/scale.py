"""Scale by simulation: the stack on PostgreSQL with one worker process, then with two.

Each configuration gets a fresh PostgreSQL database and dev server, one webhook subscriber (a loopback
receiver) and rounds of session lifecycles (start, three actions, read), `--concurrency` at a time.
It reports lifecycles per second, the webhook latency of each action (request to signed receipt),
and the CPU each process spent per lifecycle: what sizing a deployment is computed from. `ratio` is
two workers' rate over one worker's.

    python bench/scale.py [--concurrency 32] [--lifecycles 128] [--rounds 2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.events import Receiver
from bench.stack import (
    POSTGRES,
    SESSION_ACTIONS,
    Stack,
    cpu_seconds,
    percentile,
    postgres_database,
    run_round,
    running_stack,
)
from domain.ids import event_id


async def configuration(
    server: str, workers: int, concurrency: int, lifecycles: int, rounds: int
) -> dict[str, object]:
    """Measure one configuration on a database of its own (created here, dropped after)."""
    receiver = Receiver()
    runner, url = await receiver.start()
    try:
        with postgres_database(server, "bench_scale") as database:
            async with running_stack("bench-scale", database_url=database, workers=workers) as stack:
                return await _measure(stack, receiver, url, concurrency, lifecycles, rounds)
    finally:
        await runner.cleanup()


async def _measure(
    stack: Stack, receiver: Receiver, url: str, concurrency: int, lifecycles: int, rounds: int
) -> dict[str, object]:
    sent: dict[str, float] = {}
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {stack.key}"},
        connector=aiohttp.TCPConnector(limit=concurrency),
    ) as http:
        async with http.post(f"{stack.base}/webhooks", json={"url": url, "eventTypes": ["session.*"]}) as r:
            assert r.status == 201, await r.text()

        async def lifecycle(i: int) -> None:
            body = {"processType": "WEB_ORDER", "cartId": f"scale-{i}"}
            async with http.post(f"{stack.base}/sessions", json=body) as r:
                assert r.status == 201, await r.text()
                sid = str((await r.json())["id"])
            for n, action in enumerate(SESSION_ACTIONS, start=2):
                sent[event_id(stack.tenant, sid, n)] = time.perf_counter()
                async with http.post(f"{stack.base}/sessions/{sid}/actions", json={"action": action}) as r:
                    assert r.status == 200, await r.text()
            async with http.get(f"{stack.base}/sessions/{sid}") as r:
                assert (await r.json())["status"] == "PACKED"

        await run_round(lifecycle, concurrency, concurrency)  # warm up
        sent.clear()
        rates, used = [], dict[str, float]()
        before = cpu_seconds()
        for _ in range(rounds):
            rates.append(await run_round(lifecycle, lifecycles, concurrency))
        for role, seconds in cpu_seconds().items():
            used[role] = seconds - before.get(role, 0.0)
        await receiver.all_of(set(sent), 120)
    latencies = [(receiver.arrived[k] - t) * 1000 for k, t in sent.items()]
    per = 1000 / (lifecycles * rounds)
    return {
        "lifecycles_per_s": round(statistics.median(rates), 1),
        "webhook_p50_ms": round(percentile(latencies, 0.5), 1),
        "webhook_p99_ms": round(percentile(latencies, 0.99), 1),
        "cpu_ms_per_lifecycle": {role: round(s * per, 1) for role, s in sorted(used.items())},
    }


async def main(server: str, concurrency: int, lifecycles: int, rounds: int) -> dict[str, object]:
    figures: dict[str, object] = {"concurrency": concurrency, "database": "postgresql"}
    for workers in (1, 2):
        measured = await configuration(server, workers, concurrency, lifecycles, rounds)
        figures[f"workers_{workers}"] = measured
        print(
            f"{workers} worker(s): {measured['lifecycles_per_s']} lifecycles/s, webhook p50 "
            f"{measured['webhook_p50_ms']} ms, p99 {measured['webhook_p99_ms']} ms; CPU per lifecycle "
            f"{measured['cpu_ms_per_lifecycle']}",
            flush=True,
        )
    one, two = figures["workers_1"], figures["workers_2"]
    assert isinstance(one, dict) and isinstance(two, dict)
    figures["ratio"] = round(two["lifecycles_per_s"] / one["lifecycles_per_s"], 3)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lifecycles", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default=POSTGRES, help="a server URL whose user may create databases")
    args = parser.parse_args()
    result = asyncio.run(main(args.postgres, args.concurrency, args.lifecycles, args.rounds))
    print(f"two workers over one: {result['ratio']}x the lifecycles per second")
    print(json.dumps(result))
