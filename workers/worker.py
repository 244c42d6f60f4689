"""The worker: sessions and orders on one task queue, webhook and push deliveries on another.

`fulfillment worker` runs every queue; they scale apart by running workers with
FULFILLMENT_WORKER_QUEUES. Here activities get what they need from the client side (the event
publisher, the session client): activities never import `clients` themselves.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import structlog
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.changes import ChangeActivities
from activities.logistics import LogisticsActivities
from activities.orders import OrderActivities
from activities.partners import PartnerActivities
from activities.push_delivery import PushActivities
from activities.sessions import SessionActivities
from activities.webhook_delivery import FirstAttempts, WebhookActivities
from clients.code import code_processes
from clients.events import Publisher
from clients.sessions import SessionClient
from clients.temporal import connect, ensure_search_attributes
from config.settings import Settings
from egress.http import Egress
from storage.engine import make_engine
from workers.interceptors import DomainErrorsAreFinal
from workflows.change import ChangeProposalWorkflow
from workflows.options_hold import OptionsHoldWorkflow
from workflows.order import OrderWorkflow
from workflows.outbound import OutboundWorkflow
from workflows.push_delivery import PushDeliveryWorkflow
from workflows.session import SessionWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow, WebhookDispatcherWorkflow

log = structlog.get_logger(__name__)
# Which workflows each queue (FULFILLMENT_WORKER_QUEUES names) runs; every workflow type is in one.
QUEUES: dict[str, tuple[type, ...]] = {
    "sessions": (
        SessionWorkflow,
        OutboundWorkflow,
        OrderWorkflow,
        OptionsHoldWorkflow,
        ChangeProposalWorkflow,
    ),
    "notifications": (WebhookDispatcherWorkflow, WebhookDeliveryWorkflow, PushDeliveryWorkflow),
}
ALL_WORKFLOWS = tuple(w for workflows in QUEUES.values() for w in workflows)
INTERCEPTORS = [DomainErrorsAreFinal()]


def publisher(client: Client, engine: Engine, settings: Settings) -> Publisher:
    return Publisher(client, engine, settings, None)


@asynccontextmanager
async def running_workers(client: Client, engine: Engine, settings: Settings) -> AsyncIterator[list[Worker]]:
    """Run the workers of the configured queues until the block exits (then shut them down)."""
    pub = publisher(client, engine, settings)
    queues = settings.worker_queue_names
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        hooks = WebhookActivities(engine, http, pub, settings.webhook_allow_private)
        if settings.webhook_inline_ms:
            pub.first_attempts = FirstAttempts(
                hooks, settings.retry_schedule, settings.webhook_inline_ms, settings.webhook_concurrency
            )
        executor = stack.enter_context(ThreadPoolExecutor(max_workers=32))
        workers: list[Worker] = []
        if "sessions" in queues:
            order_acts = OrderActivities(engine, SessionClient(client, settings.task_queue, None), pub)
            session_acts = SessionActivities(engine, pub)
            change_acts = ChangeActivities(engine, pub, SessionClient(client, settings.task_queue, None))
            partner_acts = PartnerActivities(engine, Egress(http, settings.webhook_allow_private))
            logistics_acts = LogisticsActivities(engine, settings.resolved_public_url)
            workers.append(
                Worker(
                    client,
                    task_queue=settings.task_queue,
                    workflows=[*QUEUES["sessions"], *(p.workflow for p in code_processes().values())],
                    activities=[
                        session_acts.record_session_change,
                        session_acts.notify,
                        session_acts.hold_session_stock,
                        session_acts.settle_session_stock,
                        session_acts.adopt_change_stock,
                        change_acts.record_change,
                        change_acts.reserve_for_change,
                        change_acts.apply_change_to_session,
                        change_acts.release_change,
                        partner_acts.call_partner,
                        logistics_acts.track,
                        order_acts.record_order_change,
                        order_acts.route_order,
                        order_acts.settle_reservations,
                        order_acts.expire_options_hold,
                        order_acts.start_fulfillment_sessions,
                        order_acts.move_fulfillment_session,
                        *(a for p in code_processes().values() for a in p.activities),
                    ],
                    activity_executor=executor,
                    interceptors=INTERCEPTORS,
                )
            )
        if "notifications" in queues:
            pushes = PushActivities(engine, http, settings)
            stack.push_async_callback(pushes.close)
            workers.append(
                Worker(
                    client,
                    task_queue=settings.notifications_task_queue,
                    workflows=QUEUES["notifications"],
                    activities=[
                        hooks.deliver_next,
                        hooks.webhook_pending,  # these two for WebhookDelivery runs from release 0.2
                        hooks.deliver_webhook,
                        pushes.send_push,
                    ],
                    activity_executor=executor,
                    interceptors=INTERCEPTORS,
                )
            )
        for worker in workers:
            await stack.enter_async_context(worker)
        yield workers


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then finish in-flight tasks and exit."""
    engine = make_engine(settings.resolved_database_url)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_workers(client, engine, settings):
        log.info("worker.started", queues=settings.worker_queue_names, namespace=settings.temporal_namespace)
        await stop.wait()
    log.info("worker.stopped")
