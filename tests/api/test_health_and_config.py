"""Health names the missing part; the dev server's settings and the code agree."""

from __future__ import annotations

import aiohttp

from config.settings import Settings
from fulfillment.devserver import DevServerConfig
from tests.support import ApiClient, free_port, serving
from workflows import search_attributes as sa


async def test_health_is_503_naming_the_worker_when_none_polls(
    settings: Settings, http: aiohttp.ClientSession
) -> None:
    lonely = settings.model_copy(update={"task_queue": "nobody-polls-this", "api_port": free_port()})
    async with serving(lonely) as url:
        reply = await ApiClient(http, url, None).get("/health")
    assert reply.status == 503
    assert reply.body["missing"] == ["worker"]
    assert reply.body["checks"]["database"]["ok"] and reply.body["checks"]["temporal"]["ok"]


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
