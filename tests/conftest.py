"""Session-scoped real parts: one Temporal dev server, one database, one worker, one API on a socket."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from clients.temporal import ensure_search_attributes
from config.settings import Settings
from fulfillment.devserver import DevServerConfig
from fulfillment.logs import configure_logging
from storage import tenants
from storage.engine import make_engine, migrate
from tests.push_fakes import PushFakes
from tests.push_fakes import start as start_push_fakes
from tests.receiver import Receiver
from tests.support import ApiClient, free_port, serving
from workers.worker import running_workers
from workflows import search_attributes as sa

configure_logging("pretty", "WARNING")
# One secret key for the whole run: this process and the workers and stacks the tests spawn.
os.environ.setdefault("FULFILLMENT_SECRET_KEY", Fernet.generate_key().decode())
BIN = Path(sys.executable).parent
NAMESPACE = DevServerConfig.load().namespace
TASK_QUEUE = "fulfillment-sessions"
POSTGRES_URL = os.environ.get(
    "FULFILLMENT_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        namespace=NAMESPACE,
        data_converter=pydantic_data_converter,
        search_attributes=sa.ALL,
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'fulfillment.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
async def push_fakes() -> AsyncIterator[PushFakes]:
    fakes, runner, stop, task = await start_push_fakes(free_port(), free_port())
    yield fakes
    stop.set()
    await task
    await runner.cleanup()


@pytest.fixture(scope="session")
def settings(
    temporal_env: WorkflowEnvironment,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    push_fakes: PushFakes,
) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        temporal_namespace=NAMESPACE,
        task_queue=TASK_QUEUE,
        api_port=free_port(),
        api_timeout_seconds=10,
        webhook_allow_private=True,
        fcm_base_url=push_fakes.base,
        apns_base_url=push_fakes.apns_base,
        apns_ca_file=push_fakes.ca_file,
    )


@pytest.fixture(scope="session")
async def worker(temporal_client: Client, engine: Engine, settings: Settings) -> AsyncIterator[None]:
    async with running_workers(temporal_client, engine, settings):
        yield


@pytest.fixture(scope="session")
def skipping_settings(settings: Settings) -> Settings:
    # The dispatcher's schedule, in workflow time. First attempts made inline are stamped with the
    # event's time, which this server's skipped clock does not share with a session's creation (the
    # API's clock); their handover has a test of its own (test_webhook_retries.py).
    return settings.model_copy(
        update={
            "task_queue": "skip-sessions",
            "notifications_task_queue": "skip-notify",
            "webhook_inline_ms": 0,
        }
    )


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server alone: timers and retry schedules take no time."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def skipping(
    time_skipping: WorkflowEnvironment, engine: Engine, skipping_settings: Settings
) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server with the real workers on it."""
    async with running_workers(time_skipping.client, engine, skipping_settings):
        yield time_skipping


@pytest.fixture(scope="session")
async def api_url(settings: Settings, worker: None, engine: Engine) -> AsyncIterator[str]:
    async with serving(settings) as url:
        yield url


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_tenant(engine: Engine, api_url: str, http: aiohttp.ClientSession) -> Callable[..., ApiClient]:
    """A new tenant with a key (all scopes but admin, or the ones given) and a client using it."""

    def make(scopes: list[str] | None = None) -> ApiClient:
        tenant = f"t-{uuid.uuid4().hex[:10]}"
        tenants.create_tenant(engine, tenant)
        client = ApiClient(http, api_url, tenants.issue_key(engine, tenant, scopes), tenant)
        client.admin = ApiClient(http, api_url, tenants.issue_key(engine, tenant, ["admin"], "tests"), tenant)
        return client

    return make


@pytest.fixture
def api(make_tenant: Callable[..., ApiClient]) -> ApiClient:
    return make_tenant()


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=2):
            return None
    except Exception as e:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(e).__name__}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A freshly migrated database of each backend; PostgreSQL is skipped, saying why, when unreachable."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('any') / 'store.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    name = f"fulfillment_test_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    eng = make_engine(POSTGRES_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
