"""After an event is committed, deliver it to each webhook that wants it (the first attempt inline,
where the worker has `first_attempts`) or wake that webhook's dispatcher, and push it.

Signal-with-start is idempotent enough: a repeated poke makes the dispatcher look at the log again
and find nothing new. Publishing is retried with the activity that wrote the event, so none is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.webhook_delivery import FirstAttempts
from clients.temporal import call
from config.settings import Settings
from domain.events import Event
from domain.ids import dispatcher_shard, dispatcher_workflow_id, push_workflow_id
from domain.push import PushJob
from domain.webhooks import Handover, Poke, WebhookEndpoint
from storage.audience import audience
from workflows.push_delivery import PushDeliveryWorkflow
from workflows.webhook_delivery import WebhookDispatcherWorkflow

DISPATCHER_TASK_TIMEOUT = timedelta(seconds=30)
# The SDK takes a signal-with-start's signal by name only; this reads it off the handler itself.
POKE = workflow._SignalDefinition.must_name_from_fn_or_str(WebhookDispatcherWorkflow.poke)


class Publisher:
    """Implements `activities.ports.EventPublisher` for the activities that write events."""

    def __init__(self, client: Client, engine: Engine, settings: Settings, timeout: float | None) -> None:
        self._client, self._engine, self._timeout = client, engine, timeout
        self._queue = settings.notifications_task_queue
        self._schedule, self._shards = settings.retry_schedule, settings.webhook_dispatchers
        # The endpoint's concurrency, shared by its dispatchers.
        self._concurrency = max(1, -(-settings.webhook_concurrency // self._shards))
        # Set by the worker (`activities.webhook_delivery.FirstAttempts`); the API pokes only.
        self.first_attempts: FirstAttempts | None = None

    async def publish(self, event: Event) -> None:
        found = await asyncio.to_thread(audience, self._engine, event)
        left: dict[str, Handover | None] = dict.fromkeys(found.webhook_ids)
        if self.first_attempts is not None and left:
            left = await self.first_attempts(event, found.webhook_ids)
        await asyncio.gather(*(self._poke(event, webhook_id, left[webhook_id]) for webhook_id in left))
        if found.device_ids:
            await self._push(event, found.device_ids)

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

    async def poke_webhook(
        self, tenant: str, webhook_id: str, subject: str, sequence: int, handover: Handover | None = None
    ) -> None:
        """Tell the subject's dispatcher (starting it if it is not running) the subject has more."""
        shard = dispatcher_shard(subject, self._shards)
        endpoint = WebhookEndpoint(
            tenant=tenant,
            webhook_id=webhook_id,
            shard=shard,
            schedule=self._schedule,
            concurrency=self._concurrency,
        )
        await call(
            self._client.start_workflow(
                WebhookDispatcherWorkflow.run,
                endpoint,
                id=dispatcher_workflow_id(tenant, webhook_id, shard),
                task_queue=self._queue,
                start_signal=POKE,
                start_signal_args=[Poke(subject=subject, sequence=sequence, handover=handover)],
                # A task runs up to `concurrency` local attempts; on a starved worker that can pass
                # the default 10 s, and a task timed out runs its attempts again (duplicates).
                task_timeout=DISPATCHER_TASK_TIMEOUT,
                static_summary=f"webhook {webhook_id} deliveries, dispatcher {shard + 1} of {self._shards}",
            ),
            self._timeout,
            "Temporal",
        )

    async def _poke(self, event: Event, webhook_id: str, handover: Handover | None) -> None:
        await self.poke_webhook(event.tenant, webhook_id, event.subject, event.sequence, handover)
