"""Test helpers: a small HTTP client for the API over a real socket, free ports, waiting on conditions."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from aiohttp import web

from api.app import create_app
from config.settings import Settings


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The API for `settings`, served by uvicorn on its loopback port in this event loop; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.api_port, log_config=None, access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{settings.api_port}"
    finally:
        server.should_exit = True
        await task


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `fulfillment ARGS` as a user would; returns its exit code and its output."""
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "fulfillment"),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return await proc.wait(), out.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]


class ApiClient:
    """Talks to the API as a REST client would: JSON over HTTP with a Bearer key."""

    def __init__(self, http: aiohttp.ClientSession, base: str, key: str | None, tenant: str = "") -> None:
        self.http, self.base, self.key, self.tenant = http, base, key, tenant
        self.admin: ApiClient | None = None  # the same tenant with an `admin` key, where the test made one

    @property
    def as_admin(self) -> ApiClient:
        assert self.admin is not None, "make the client with make_tenant to have an admin key"
        return self.admin

    async def call(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        all_headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        all_headers.update(headers or {})
        async with self.http.request(method, self.base + path, json=json, headers=all_headers) as r:
            body = await r.json(content_type=None)
            return Reply(r.status, body, r.headers.copy())

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json, **kw)

    async def ok(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        reply = await self.call(method, path, json)
        assert reply.status == status, (method, path, reply.status, reply.body)
        return reply.body

    async def new_session(
        self, process_type: str = "WEB_ORDER", cart_id: str = "cart-1", **extra: Any
    ) -> Any:
        return await self.ok(
            "POST", "/sessions", {"processType": process_type, "cartId": cart_id, **extra}, 201
        )

    async def act(self, session_id: str, action: str, **extra: Any) -> Any:
        return await self.ok("POST", f"/sessions/{session_id}/actions", {"action": action, **extra})


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 30, what: str = "condition"
) -> None:
    """Poll `check` until it holds; fails the test with `what` after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def loopback(app: web.Application) -> AsyncIterator[str]:
    """An aiohttp app (a sandbox partner, say) on a free loopback port for the block: its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()
