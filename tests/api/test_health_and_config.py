"""Health names the missing part; the dev server's settings and the code agree."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable

import aiohttp

from config.settings import Settings
from domain.ids import new_session_id
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


async def test_every_temporal_call_answers_503_when_no_worker_takes_it(
    settings: Settings, http: aiohttp.ClientSession, make_tenant: Callable[..., ApiClient]
) -> None:
    """An action (an Update), a read (a query) and an order's Update: each is bounded by
    FULFILLMENT_API_TIMEOUT_SECONDS instead of hanging or failing with a 500. Starting needs no
    worker: the start is durable once Temporal has it."""
    tenant = make_tenant()
    lonely = settings.model_copy(
        update={
            "task_queue": f"nobody-{uuid.uuid4().hex[:6]}",
            "api_port": free_port(),
            "api_timeout_seconds": 1,
        }
    )
    async with serving(lonely) as url:
        api = ApiClient(http, url, tenant.key, tenant.tenant)
        key = {"Idempotency-Key": uuid.uuid4().hex}
        started = await api.post("/sessions", {"processType": "WEB_ORDER", "cartId": "c"}, headers=key)
        assert started.status == 201, started.body
        session_id = new_session_id(tenant.tenant, key["Idempotency-Key"])
        assert started.body["id"] == session_id
        acted = await api.post(f"/sessions/{session_id}/actions", {"action": "confirm"})
        assert acted.status == 503 and acted.body["errors"][0]["code"] == "NO_WORKER", acted.body
        read = await api.get(f"/sessions/{session_id}")
        assert read.status == 503, read.body
        order = {
            "tenantOrderId": f"NW-{uuid.uuid4().hex[:6]}",
            "orderLineItems": [{"article": {"tenantArticleId": "S"}, "quantity": 1}],
        }
        placed = await api.post("/api/orders", order)
        assert placed.status == 200, placed.body  # starting needs no worker
        paid = await api.post(f"/api/orders/{placed.body['id']}/actions", {"name": "MARK_PAID"})
        assert paid.status == 503 and paid.body["errors"][0]["code"] == "NO_WORKER", paid.body


async def test_every_answer_carries_the_request_id(api: ApiClient) -> None:
    """The caller's `x-request-id` (logged with every line of the request), or a new one; on errors too."""
    given = await api.get("/sessions?limit=1", headers={"x-request-id": "req-42"})
    assert given.status == 200 and given.headers["x-request-id"] == "req-42"
    fresh = await api.get("/sessions/ses_nope")
    assert fresh.status == 404 and len(fresh.headers["x-request-id"]) == 32
    other = await api.get("/sessions/ses_nope")
    assert other.headers["x-request-id"] != fresh.headers["x-request-id"]
    too_big = await api.post("/sessions", {"context": {"x": "y" * 2_000_000}})
    assert too_big.status == 413 and too_big.headers["x-request-id"]


def test_a_bad_setting_is_named_by_its_variable_without_a_traceback() -> None:
    bad = {**os.environ, "FULFILLMENT_WEBHOOK_INLINE_MS": "-5", "FULFILLMENT_API_PORT": "http"}
    done = subprocess.run(
        [sys.executable, "-m", "fulfillment.cli", "worker"],
        env=bad,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert any(line.startswith("FULFILLMENT_WEBHOOK_INLINE_MS: ") and "-5" in line for line in lines)
    assert any(line.startswith("FULFILLMENT_API_PORT: ") for line in lines)
    assert "Traceback" not in done.stderr
