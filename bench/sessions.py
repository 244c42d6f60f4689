"""Session lifecycles through the HTTP API against the same lifecycles straight on the Temporal client.

Each lifecycle: create a WEB_ORDER session, three actions (confirm, pick, pack), read it back.
Both sides run against one dev server and one worker process, in alternating rounds, so machine
noise hits both alike; the figure is the median rate of each side and their ratio (API / direct).

    python bench/sessions.py [--concurrency 32] [--lifecycles 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import SESSION_ACTIONS, api_lifecycle, run_round, running_stack  # noqa: E402
from clients.sessions import SessionClient  # noqa: E402
from domain.builtins import WEB_ORDER  # noqa: E402
from domain.ids import new_session_id  # noqa: E402
from domain.session import ActionRequest, SessionStart  # noqa: E402

QUEUE = "bench-sessions"


async def main(concurrency: int, lifecycles: int, rounds: int) -> dict[str, float]:
    async with running_stack(QUEUE) as stack:
        client, base, key = stack.client, stack.base, stack.key
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {key}"}, connector=aiohttp.TCPConnector(limit=concurrency)
        ) as http:

            async def through_api(i: int) -> None:
                await api_lifecycle(http, base, f"api-{i}")

            sessions = SessionClient(client, QUEUE, None)

            async def direct(i: int) -> None:
                sid = new_session_id("bench", None)
                start = SessionStart(
                    tenant="bench", session_id=sid, cart_id=f"direct-{i}", definition=WEB_ORDER
                )
                await sessions.start(start)
                for action in SESSION_ACTIONS:
                    await sessions.act("bench", sid, ActionRequest(action=action))
                assert (await sessions.view("bench", sid)).status == "PACKED"

            await run_round(through_api, concurrency, concurrency)  # warm both paths up
            await run_round(direct, concurrency, concurrency)
            api_rates, direct_rates = [], []
            for _ in range(rounds):
                api_rates.append(await run_round(through_api, lifecycles, concurrency))
                direct_rates.append(await run_round(direct, lifecycles, concurrency))
                print(f"round: api {api_rates[-1]:.1f}/s  direct {direct_rates[-1]:.1f}/s", flush=True)
    api_rate, direct_rate = statistics.median(api_rates), statistics.median(direct_rates)
    return {
        "concurrency": concurrency,
        "lifecycles_per_round": lifecycles,
        "api_lifecycles_per_s": round(api_rate, 1),
        "direct_lifecycles_per_s": round(direct_rate, 1),
        "ratio": round(api_rate / direct_rate, 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--lifecycles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = asyncio.run(main(args.concurrency, args.lifecycles, args.rounds))
    print(f"API:    {figures['api_lifecycles_per_s']} lifecycles/s")
    print(
        f"direct: {figures['direct_lifecycles_per_s']} lifecycles/s (baseline: Temporal client, same server)"
    )
    print(f"ratio:  {figures['ratio']} (goal >= 0.8)")
    print(json.dumps(figures))
