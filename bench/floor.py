"""How close an action through the API comes to Temporal's own floor (issue #16's yardstick).

The floor is a bare workflow holding a status, changed by Updates, with no storage and no events, in
a worker process of its own. The project runs its full path: API, session workflow, read model,
revision trail and events, in its own worker and API processes, on the same dev server. Both run the
same lifecycle (start, three actions, read), 32 at a time, in alternating rounds; once for a tenant
with no webhook and once for a tenant with one subscriber (a loopback receiver), whose rounds end
when the receiver has every event of the round (so no delivery work spills into the floor's round).
History events per lifecycle are counted from one run of each.

    python bench/floor.py [--concurrency 32] [--lifecycles 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import aiohttp
from aiohttp import web
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (
    SESSION_ACTIONS,
    Stack,
    api_lifecycle,
    cpu_seconds,
    free_port,
    run_round,
    running_stack,
)
from domain.ids import session_workflow_id

NEXT = {"CREATED": "CONFIRMED", "CONFIRMED": "PICKED", "PICKED": "PACKED"}
FLOOR_QUEUE = "bench-floor"


@workflow.defn(name="BenchFloor", sandboxed=False)
class FloorWorkflow:
    """Temporal's floor for a lifecycle: a status in memory, moved by Updates, nothing else."""

    def __init__(self) -> None:
        self.status = "CREATED"

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.status == "PACKED" and workflow.all_handlers_finished())
        return self.status

    @workflow.update
    async def act(self, action: str) -> str:
        self.status = NEXT[self.status]
        return self.status

    @workflow.query
    def view(self) -> str:
        return self.status


async def floor_worker(address: str, namespace: str) -> None:
    """The floor's own worker process (started by this script with --worker)."""
    client = await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)
    async with Worker(client, task_queue=FLOOR_QUEUE, workflows=[FloorWorkflow]):
        await asyncio.Event().wait()


async def main(concurrency: int, lifecycles: int, rounds: int) -> dict[str, object]:
    received: set[str] = set()
    arrived = asyncio.Condition()

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        async with arrived:
            received.add(request.headers["webhook-id"])
            arrived.notify_all()
        return web.Response(status=204)

    async def delivered(count: int) -> None:
        """Until `count` distinct events have arrived in all."""
        async with arrived:
            await asyncio.wait_for(arrived.wait_for(lambda: len(received) >= count), 300)

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    runner = web.AppRunner(receiver)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    async with running_stack("bench-floor-sessions") as stack:
        target = stack.client.service_client.config.target_host
        worker = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", target, stack.client.namespace
        )
        try:
            figures = await _measure(stack, port, concurrency, lifecycles, rounds, delivered)
        finally:
            worker.terminate()
            await worker.wait()
    await runner.cleanup()
    figures["webhook_deliveries_received"] = len(received)
    return figures


async def _measure(
    stack: Stack,
    port: int,
    concurrency: int,
    lifecycles: int,
    rounds: int,
    delivered: Callable[[int], Awaitable[None]],
) -> dict[str, object]:
    client, base = stack.client, stack.base
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=concurrency)
    ) as http:
        last_api: list[str] = []

        async def through_api(i: int) -> None:
            last_api[:] = [await api_lifecycle(http, base, f"c{i}")]

        last_floor: list[str] = []

        async def floor(i: int) -> None:
            handle = await client.start_workflow(
                FloorWorkflow.run, id=f"floor-{uuid.uuid4().hex}", task_queue=FLOOR_QUEUE
            )
            for action in SESSION_ACTIONS:
                await handle.execute_update(FloorWorkflow.act, action)
            assert await handle.query(FloorWorkflow.view) == "PACKED"
            last_floor[:] = [handle.id]

        results: dict[str, object] = {"concurrency": concurrency, "lifecycles_per_round": lifecycles}
        for variant in ("no_subscriber", "one_subscriber"):
            if variant == "one_subscriber":
                hook = {"url": f"http://127.0.0.1:{port}/hook", "eventTypes": ["session.*"]}
                async with http.post(f"{base}/webhooks", json=hook) as r:
                    assert r.status == 201, await r.text()
            events = 0  # delivered so far: a round with a subscriber ends once its events have arrived

            async def api_round(count: int, subscribed: bool = variant == "one_subscriber") -> float:
                nonlocal events
                if not subscribed:
                    return await run_round(through_api, count, concurrency)
                began = time.perf_counter()
                await run_round(through_api, count, concurrency)
                events += count * (1 + len(SESSION_ACTIONS))
                await delivered(events)
                return count / (time.perf_counter() - began)

            await api_round(concurrency)  # warm both up
            await run_round(floor, concurrency, concurrency)
            api_rates, floor_rates = [], []
            api_cpu: dict[str, float] = {}
            floor_cpu: dict[str, float] = {}
            for _ in range(rounds):
                api_rates.append(await _metered(api_cpu, api_round(lifecycles)))
                floor_rates.append(await _metered(floor_cpu, run_round(floor, lifecycles, concurrency)))
                print(f"{variant}: api {api_rates[-1]:.1f}/s  floor {floor_rates[-1]:.1f}/s", flush=True)
            api, base_rate = statistics.median(api_rates), statistics.median(floor_rates)
            results[f"{variant}_api_lifecycles_per_s"] = round(api, 1)
            results[f"{variant}_floor_lifecycles_per_s"] = round(base_rate, 1)
            results[f"{variant}_ratio"] = round(api / base_rate, 3)
            per = 1000 / (lifecycles * rounds)
            for kind, cpu in (("api", api_cpu), ("floor", floor_cpu)):
                key = f"{variant}_cpu_ms_per_lifecycle_{kind}"
                results[key] = {role: round(seconds * per, 1) for role, seconds in cpu.items()}
        session_history = await client.get_workflow_handle(
            session_workflow_id(stack.tenant, last_api[0])
        ).fetch_history()
        floor_history = await client.get_workflow_handle(last_floor[0]).fetch_history()
        results["history_events_api"] = len(session_history.events)
        results["history_events_floor"] = len(floor_history.events)
        results["history_api_by_type"] = _by_type(session_history.events)
        results["history_floor_by_type"] = _by_type(floor_history.events)
        results["ratio"] = results["no_subscriber_ratio"]
        return results


async def _metered(into: dict[str, float], work: Awaitable[float]) -> float:
    """Run a round, adding the CPU seconds each process of the stack spent in it to `into`."""
    before = cpu_seconds()
    rate = await work
    for role, used in cpu_seconds().items():
        into[role] = into.get(role, 0.0) + used - before.get(role, 0.0)
    return rate


def _by_type(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """How many events of each type a history has (e.g. MARKER_RECORDED: one per local activity)."""
    counts: dict[str, int] = {}
    for event in events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[name] = counts.get(name, 0) + 1
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lifecycles", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=2, metavar=("ADDRESS", "NAMESPACE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(floor_worker(*args.worker))
        sys.exit(0)
    figures = asyncio.run(main(args.concurrency, args.lifecycles, args.rounds))
    for variant, goal in (("no_subscriber", 0.6), ("one_subscriber", 0.45)):
        print(
            f"{variant}: API {figures[f'{variant}_api_lifecycles_per_s']}/s, floor "
            f"{figures[f'{variant}_floor_lifecycles_per_s']}/s (bare workflow with Updates, same server): "
            f"ratio {figures[f'{variant}_ratio']} (goal >= {goal})"
        )
        for kind in ("api", "floor"):
            cpu = figures[f"{variant}_cpu_ms_per_lifecycle_{kind}"]
            shown = ", ".join(f"{role} {ms} ms" for role, ms in sorted(cpu.items()))  # type: ignore[attr-defined]
            print(f"  CPU per lifecycle, {kind}: {shown}")
    print(
        f"history events per lifecycle: API {figures['history_events_api']}, "
        f"floor {figures['history_events_floor']} (goal: floor + 2 per action)"
    )
    print(json.dumps(figures))
