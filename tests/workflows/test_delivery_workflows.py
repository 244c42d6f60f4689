"""Webhook and push delivery, each workflow alone with stand-in activities."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.push_delivery import PushActivities
from activities.webhook_delivery import WebhookActivities
from domain import ids
from domain.events import Event
from domain.push import PushJob, PushRequest
from domain.webhooks import DeliveryRequest, DeliveryResult, PendingEvents, WebhookTarget
from tests.workflows.support import keep, stand_in, worker
from workflows.push_delivery import RETRY, PushDeliveryWorkflow
from workflows.webhook_delivery import IDLE, WebhookDeliveryWorkflow

SCHEDULE = [5, 300]


def event(sequence: int) -> Event:
    return Event(
        id=ids.event_id("wf", "ses_1", sequence),
        type="session.changed",
        tenant="wf",
        subject="ses_1",
        sequence=sequence,
        cursor=sequence,
        occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
        data={},
    )


class Endpoint:
    """Stand-ins for the delivery activities: the log holds events 1 and 2; the endpoint's answers
    are scripted per attempt, and every attempt is kept with its workflow time."""

    def __init__(self, answers: list[DeliveryResult]) -> None:
        self.pending = [[event(1), event(2)]]
        self.answers = iter(answers)
        self.attempts: list[tuple[int, int, datetime, bool]] = []

        @stand_in(WebhookActivities.webhook_pending)
        async def pending(target: WebhookTarget) -> PendingEvents:
            return PendingEvents(enabled=True, events=self.pending.pop() if self.pending else [])

        @stand_in(WebhookActivities.deliver_webhook)
        async def deliver(request: DeliveryRequest) -> DeliveryResult:
            self.attempts.append((request.event.sequence, request.attempt, request.now, request.final))
            return next(self.answers)

        self.activities: list[Callable[..., Any]] = [pending, deliver]


async def test_the_legacy_per_subject_workflow_still_delivers_in_order_on_the_schedule(
    time_skipping: WorkflowEnvironment,
) -> None:
    endpoint = Endpoint(
        [
            DeliveryResult(outcome="failed", status_code=500),
            DeliveryResult(outcome="failed", status_code=429, retry_after_seconds=42),
            DeliveryResult(outcome="delivered", status_code=200),
            DeliveryResult(outcome="delivered", status_code=204),
        ]
    )
    async with worker(time_skipping, [WebhookDeliveryWorkflow], endpoint.activities) as queue:
        target = WebhookTarget(tenant="wf", webhook_id="wh_1", subject="ses_1", schedule=SCHEDULE)
        handle = await time_skipping.client.start_workflow(
            WebhookDeliveryWorkflow.run,
            target,
            id=f"webhook:wf:wh_1:ses_{uuid.uuid4().hex[:6]}",  # the id releases up to 0.2 gave it
            task_queue=queue,
            start_signal=workflow._SignalDefinition.must_name_from_fn_or_str(WebhookDeliveryWorkflow.poke),
            start_signal_args=[1],
        )
        assert await handle.result() == "idle"
        assert [(seq, n, final) for seq, n, _, final in endpoint.attempts] == [
            (1, 1, False),
            (1, 2, False),
            (1, 3, True),
            (2, 1, False),
        ]
        at = [when for _, _, when, _ in endpoint.attempts]
        assert (
            timedelta(seconds=4) <= at[1] - at[0] <= timedelta(seconds=6.5)
        )  # 5 s with jitter, plus the attempt
        assert timedelta(seconds=42) <= at[2] - at[1] < timedelta(seconds=43)  # Retry-After wins
        assert at[3] - at[2] < timedelta(seconds=1)  # the next event goes at once
        history = await handle.fetch_history()
        assert history.events[-1].workflow_execution_completed_event_attributes is not None
        assert (await handle.describe()).close_time - at[3] >= IDLE  # type: ignore[operator]
        await keep(handle, "webhook_delivery")


async def test_one_failing_device_does_not_stop_the_others_and_is_retried_by_policy(
    time_skipping: WorkflowEnvironment,
) -> None:
    tries = itertools.count(1)
    seen: list[str] = []

    @stand_in(PushActivities.send_push)
    async def send(request: PushRequest) -> str:
        seen.append(request.device_id)
        if request.device_id == "broken":
            raise ApplicationError(f"try {next(tries)}: provider answered 503", type="PushRetry")
        return "sent"

    async with worker(time_skipping, [PushDeliveryWorkflow], [send]) as queue:
        job = PushJob(tenant="wf", event=event(1), device_ids=["phone", "broken"])
        handle = await time_skipping.client.start_workflow(
            PushDeliveryWorkflow.run,
            job,
            id=ids.push_workflow_id("wf", f"evt_{uuid.uuid4().hex[:6]}"),
            task_queue=queue,
        )
        outcomes = await handle.result()
    assert outcomes["phone"] == "sent"
    assert outcomes["broken"].startswith("failed:")
    assert seen.count("broken") == RETRY.maximum_attempts and seen.count("phone") == 1
    await keep(handle, "push_delivery")
