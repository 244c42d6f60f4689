"""The session worker: session workflows and their bookkeeping activity on one task queue."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

import structlog
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.sessions import SessionActivities
from fulfillment.settings import Settings
from storage.engine import make_engine
from workers.temporal_client import connect, ensure_search_attributes
from workflows.session import SessionWorkflow

log = structlog.get_logger(__name__)


def build_worker(client: Client, engine: Engine, task_queue: str, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[SessionWorkflow],
        activities=[SessionActivities(engine).record_session_change],
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        max_concurrent_local_activities=executor._max_workers,
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then finish in-flight tasks and exit."""
    engine = make_engine(settings.resolved_database_url)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=32) as executor:
        worker = build_worker(client, engine, settings.task_queue, executor)
        log.info("worker.started", task_queue=settings.task_queue, namespace=settings.temporal_namespace)
        async with worker:
            await stop.wait()
    log.info("worker.stopped")
