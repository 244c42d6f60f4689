"""`fulfillment dev` end to end: up, used, stopped without orphans, restarted with everything kept."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.support import ApiClient, eventually, free_port, run_cli

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@asynccontextmanager
async def dev_stack(env: dict[str, str], stop: signal.Signals) -> AsyncIterator[tuple[str, set[int]]]:
    """Start the stack, yield its API key and child pids; stop it with `stop` and check nothing is left."""
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "fulfillment"),
        "dev",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    key: str | None = None
    output: list[str] = []
    try:
        async with asyncio.timeout(120):
            while key is None:
                line = (await proc.stdout.readline()).decode()
                assert line, f"fulfillment dev exited early: {output}"
                output.append(line)
                if "API key" in line:
                    key = line.split()[-1]
        banner = "".join(output)
        assert "/docs" in banner and f":{env['FULFILLMENT_TEMPORAL_UI_PORT']}/namespaces/" in banner
        kids = children(proc.pid)
        assert len(kids) == 4, kids  # Temporal, sandbox, worker, API
        yield key, kids
    finally:
        if proc.returncode is None:
            proc.send_signal(stop)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
    assert not [pid for pid in kids if alive(pid)], "child processes outlived fulfillment dev"


async def test_dev_stack_survives_a_restart(tmp_path: Path) -> None:
    api_port, sandbox_port = free_port(), free_port()
    env = {
        "FULFILLMENT_SANDBOX_PORT": str(sandbox_port),
        **os.environ,
        "FULFILLMENT_DATA_DIR": str(tmp_path / "data"),
        "FULFILLMENT_API_PORT": str(api_port),
        "FULFILLMENT_TEMPORAL_PORT": str(free_port()),
        "FULFILLMENT_TEMPORAL_UI_PORT": str(free_port()),
        "FULFILLMENT_LOG_LEVEL": "WARNING",
    }
    env.pop("FULFILLMENT_BOOTSTRAP_API_KEY", None)
    env.pop("FULFILLMENT_DATABASE_URL", None)
    base = f"http://127.0.0.1:{api_port}"
    gift = {
        "type": "GIFT_WRAP",
        "states": [{"name": "CREATED"}, {"name": "WRAPPED"}, {"name": "DONE"}],
        "initialState": "CREATED",
        "terminalStates": ["DONE"],
        "transitions": [
            {"from": "CREATED", "action": "wrap", "to": "WRAPPED"},
            {"from": "WRAPPED", "action": "finish", "to": "DONE"},
        ],
    }
    async with aiohttp.ClientSession() as http:
        async with dev_stack(env, signal.SIGINT) as (dev_key, _):
            dev = ApiClient(http, base, dev_key)
            health = await dev.get("/health")
            assert health.status == 200, health.body
            code, out = await run_cli(env, "tenant", "create", "acme")
            assert code == 0, out
            acme = ApiClient(http, base, out.split()[-1])
            await acme.ok("POST", "/processes", gift, 201)
            wrapped = (await acme.new_session("GIFT_WRAP", "cart-a"))["id"]
            await acme.act(wrapped, "wrap", comment="before restart")
            web = (await dev.new_session("WEB_ORDER", "cart-d"))["id"]
            await dev.act(web, "confirm")

            async def sandbox_received() -> bool:
                async with http.get(f"http://127.0.0.1:{sandbox_port}/received") as r:
                    got = [d for d in await r.json() if d["body"]["subject"] == web]
                return [(d["type"], d["verified"]) for d in got] == [
                    ("session.created", True),
                    ("session.status_changed", True),
                ]

            await eventually(sandbox_received, 30, "the sandbox to receive the dev tenant's signed webhooks")

        async with dev_stack(env, signal.SIGTERM) as (key_after, _):
            assert key_after == dev_key  # the generated dev key is kept in the data dir
            dev, acme = ApiClient(http, base, key_after), ApiClient(http, base, acme.key)
            assert (await dev.ok("GET", f"/sessions/{web}"))["status"] == "CONFIRMED"
            assert (await acme.ok("GET", f"/sessions/{wrapped}"))["status"] == "WRAPPED"
            assert (await acme.ok("GET", "/processes/GIFT_WRAP"))["version"] == 1
            trail = await acme.ok("GET", "/carts/cart-a/revisions")
            assert [(r["action"], r["comment"]) for r in trail] == [
                ("create", None),
                ("wrap", "before restart"),
            ]
            # The workflows themselves survived: they take actions again.
            assert (await acme.act(wrapped, "finish"))["status"] == "DONE"
            assert (await dev.act(web, "pick"))["status"] == "PICKED"
            code, out = await run_cli(env, "tenant", "list")
            assert code == 0 and {line.split()[0] for line in out.splitlines()} == {"acme", "dev"}
            code, out = await run_cli(env, "tenant", "create", "acme")
            assert code == 2 and "exists already" in out
