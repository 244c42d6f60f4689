"""Health names the missing part; the dev server's settings and the code agree."""

from __future__ import annotations

import asyncio

import aiohttp
import uvicorn

from api.app import create_app
from fulfillment.devserver import DevServerConfig
from fulfillment.settings import Settings
from tests.support import ApiClient, free_port
from workflows import search_attributes as sa


async def test_health_is_503_naming_the_worker_when_none_polls(
    settings: Settings, http: aiohttp.ClientSession
) -> None:
    lonely = settings.model_copy(update={"task_queue": "nobody-polls-this", "api_port": free_port()})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(lonely), host="127.0.0.1", port=lonely.api_port, log_config=None, lifespan="on"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.02)
        reply = await ApiClient(http, f"http://127.0.0.1:{lonely.api_port}", None).get("/health")
        assert reply.status == 503
        assert reply.body["missing"] == ["worker"]
        assert reply.body["checks"]["database"]["ok"] and reply.body["checks"]["temporal"]["ok"]
    finally:
        server.should_exit = True
        await task


def test_dev_server_registers_the_search_attributes_the_workflows_set() -> None:
    config = DevServerConfig.load()
    assert config.search_attributes == {key.name: "Keyword" for key in sa.ALL}
    command = config.command(Settings().data_dir, 1, 2, config.namespace)
    assert command.count("--search-attribute") == len(sa.ALL)
    assert "--sqlite-pragma" in command and command[command.index("--namespace") + 1] == config.namespace


def test_postgres_urls_use_psycopg() -> None:
    assert Settings(database_url="postgresql://u@h/db").resolved_database_url == "postgresql+psycopg://u@h/db"
    assert (
        Settings(database_url=None, data_dir="/tmp/x").resolved_database_url
        == "sqlite:////tmp/x/fulfillment.db"
    )
