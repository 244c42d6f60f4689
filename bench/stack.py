"""The stack the benchmarks run against: a dev server, a SQLite database, and worker and API processes."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg
from cryptography.fernet import Fernet
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fulfillment.devserver import DevServerConfig  # noqa: E402
from storage import tenants  # noqa: E402
from storage.engine import make_engine, migrate  # noqa: E402
from workflows import search_attributes as sa  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    client: Client
    base: str
    key: str
    tenant: str
    task_queue: str


@asynccontextmanager
async def running_stack(
    task_queue: str, tenant: str = "bench", database_url: str | None = None, workers: int = 1
) -> AsyncIterator[Stack]:
    """A dev server, a database (SQLite in a temporary folder unless `database_url`), `workers`
    worker processes and one API process; yields once the API answers."""
    namespace = DevServerConfig.load().namespace
    env = await WorkflowEnvironment.start_local(
        namespace=namespace,
        data_converter=pydantic_data_converter,
        search_attributes=sa.ALL,
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        dev_server_log_level="error",
    )
    url = database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-')) / 'fulfillment.db'}"
    engine = make_engine(url)
    migrate(engine)
    tenants.create_tenant(engine, tenant)
    key = tenants.issue_key(engine, tenant)
    api_port = free_port()
    child_env = {
        **os.environ,
        "FULFILLMENT_DATABASE_URL": url,
        "FULFILLMENT_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "FULFILLMENT_TEMPORAL_NAMESPACE": namespace,
        "FULFILLMENT_TASK_QUEUE": task_queue,
        "FULFILLMENT_NOTIFICATIONS_TASK_QUEUE": f"{task_queue}-notify",
        "FULFILLMENT_WEBHOOK_ALLOW_PRIVATE": "true",
        "FULFILLMENT_API_PORT": str(api_port),
        "FULFILLMENT_LOG_LEVEL": "WARNING",
        "FULFILLMENT_SECRET_KEY": os.environ.get("FULFILLMENT_SECRET_KEY") or Fernet.generate_key().decode(),
    }
    cli = [sys.executable, "-m", "fulfillment.cli"]
    procs = [
        await asyncio.create_subprocess_exec(*cli, part, env=child_env, cwd=ROOT)
        for part in ["worker"] * workers + ["api"]
    ]
    base = f"http://127.0.0.1:{api_port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.get(f"{base}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the API did not become healthy")
        yield Stack(env.client, base, key, tenant, task_queue)
    finally:
        for proc in procs:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 30)
        await env.shutdown()
        engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_round(lifecycle: Callable[[int], Awaitable[None]], lifecycles: int, concurrency: int) -> float:
    """Lifecycles per second with `concurrency` of them in flight at any time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(lifecycles):
        queue.put_nowait(i)

    async def runner() -> None:
        while not queue.empty():
            await lifecycle(queue.get_nowait())

    began = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return lifecycles / (time.perf_counter() - began)


SESSION_ACTIONS = ("confirm", "pick", "pack")


async def api_lifecycle(http: aiohttp.ClientSession, base: str, cart_id: str) -> str:
    """One session lifecycle through the API (start, three actions, read); returns the session id."""
    async with http.post(f"{base}/sessions", json={"processType": "WEB_ORDER", "cartId": cart_id}) as r:
        assert r.status == 201, await r.text()
        sid = str((await r.json())["id"])
    for action in SESSION_ACTIONS:
        async with http.post(f"{base}/sessions/{sid}/actions", json={"action": action}) as r:
            assert r.status == 200, await r.text()
    async with http.get(f"{base}/sessions/{sid}") as r:
        assert (await r.json())["status"] == "PACKED"
    return sid


def _label(cmdline: str) -> str:
    if "start-dev" in cmdline:
        return "temporal"
    for part in ("worker", "api"):
        if f"fulfillment.cli {part}" in cmdline:
            return part
    return "floor worker" if "--worker" in cmdline else "other"


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and each of its descendants, by role.

    Read from /proc, so that a benchmark can say which process a lifecycle's time goes to.
    """
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    me = os.getpid()
    totals: dict[str, float] = {"bench": used.get(me, 0.0)}
    for pid in used:
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor == me:
            label = _label(commands[pid])
            totals[label] = totals.get(label, 0.0) + used[pid]
    return totals


POSTGRES = "postgresql+psycopg://root@127.0.0.1:5432/test"  # a server whose user may create databases


@contextmanager
def postgres_database(server: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database on `server` for the block (dropped after): its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = server.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
