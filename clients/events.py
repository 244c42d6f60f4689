"""After an event is committed, wake the delivery workflow of each webhook that wants it, and push it.

Signal-with-start is idempotent enough: a repeated poke makes the workflow look at the log again and
find nothing new. Publishing is retried with the activity that wrote the event, so none is missed.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.engine import Engine
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from clients.temporal import call
from domain.events import Event
from domain.ids import delivery_workflow_id, push_workflow_id
from domain.push import PushJob
from domain.webhooks import WebhookTarget
from storage import push, webhooks
from workflows.push_delivery import PushDeliveryWorkflow
from workflows.webhook_delivery import WebhookDeliveryWorkflow

# The SDK takes a signal-with-start's signal by name only; this reads it off the handler itself.
POKE = workflow._SignalDefinition.must_name_from_fn_or_str(WebhookDeliveryWorkflow.poke)


class Publisher:
    """Implements `activities.ports.EventPublisher` for the activities that write events."""

    def __init__(
        self, client: Client, engine: Engine, task_queue: str, schedule: list[int], timeout: float | None
    ) -> None:
        self._client, self._engine, self._queue, self._schedule = client, engine, task_queue, schedule
        self._timeout = timeout

    async def publish(self, event: Event) -> None:
        subscribers = await asyncio.to_thread(webhooks.subscribers, self._engine, event.tenant, event)
        await asyncio.gather(*(self._poke(event, webhook_id) for webhook_id in (w.id for w in subscribers)))
        devices = await asyncio.to_thread(push.recipients, self._engine, event)
        if devices:
            await self._push(event, devices)

    async def _push(self, event: Event, devices: list[str]) -> None:
        # Published before: its pushes are under way or done.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await call(
                self._client.start_workflow(
                    PushDeliveryWorkflow.run,
                    PushJob(tenant=event.tenant, event=event, device_ids=devices),
                    id=push_workflow_id(event.tenant, event.id),
                    task_queue=self._queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"push {event.type} to {len(devices)} device(s)",
                ),
                self._timeout,
                "Temporal",
            )

    async def poke_webhook(self, tenant: str, webhook_id: str, subject: str, sequence: int) -> None:
        target = WebhookTarget(tenant=tenant, webhook_id=webhook_id, subject=subject, schedule=self._schedule)
        await call(
            self._client.start_workflow(
                WebhookDeliveryWorkflow.run,
                target,
                id=delivery_workflow_id(tenant, webhook_id, subject),
                task_queue=self._queue,
                start_signal=POKE,
                start_signal_args=[sequence],
                static_summary=f"webhook {webhook_id} deliveries for {subject}",
            ),
            self._timeout,
            "Temporal",
        )

    async def _poke(self, event: Event, webhook_id: str) -> None:
        await self.poke_webhook(event.tenant, webhook_id, event.subject, event.sequence)
