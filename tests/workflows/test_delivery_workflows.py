"""Webhook and push delivery, and fulfillment options, each workflow alone with stand-in activities."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.push_delivery import PushActivities
from activities.sourcing import SourcingActivities
from activities.webhook_delivery import WebhookActivities
from clients.events import POKE
from clients.options import OptionsClient
from domain import ids
from domain.errors import DomainError, Unavailable, to_failure
from domain.events import Event
from domain.push import PushJob, PushRequest
from domain.sourcing.jobs import OptionsAnswer, OptionsJob
from domain.sourcing.options import OptionsRequest
from domain.webhooks import DeliveryRequest, DeliveryResult, PendingEvents, WebhookTarget
from tests.workflows.support import keep, stand_in, worker
from workflows.fulfillment_options import FulfillmentOptionsWorkflow
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


async def test_webhook_events_go_out_in_order_on_the_schedule_and_the_workflow_ends_when_idle(
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
            id=ids.delivery_workflow_id("wf", "wh_1", f"ses_{uuid.uuid4().hex[:6]}"),
            task_queue=queue,
            start_signal=POKE,
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
        assert timedelta(seconds=4) <= at[1] - at[0] <= timedelta(seconds=6)  # 5 s with jitter
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


def job(tenant: str = "wf") -> OptionsJob:
    request = OptionsRequest.model_validate(
        {"orderType": "CC", "locationRef": "ST1", "items": [{"skuRef": "S1", "requestedQuantity": 1}]}
    )
    return OptionsJob(
        tenant=tenant, options_id=str(uuid.uuid4()), request=request, created_on=datetime.now(UTC)
    )


async def test_options_come_back_and_a_refused_request_fails_at_once_with_its_field(
    time_skipping: WorkflowEnvironment,
) -> None:
    calls: list[str] = []

    @stand_in(SourcingActivities.compute_fulfillment_options)
    async def compute(j: OptionsJob) -> OptionsAnswer:
        calls.append(j.tenant)
        if j.tenant == "refuse":
            raise to_failure(DomainError.one("UNKNOWN_LOCATION", "no pickup location 'ST1'", "locationRef"))
        return OptionsAnswer(body={"fulfilmentOptionsId": j.options_id, "plans": []})

    async with worker(time_skipping, [FulfillmentOptionsWorkflow], [compute]) as queue:
        client = OptionsClient(time_skipping.client, queue, timeout=30)
        ok = job()
        assert (await client.compute(ok)).body["fulfilmentOptionsId"] == ok.options_id
        with pytest.raises(DomainError) as refused:
            await client.compute(job("refuse"))
        assert type(refused.value) is DomainError and refused.value.errors[0].field == "locationRef"
        assert calls.count("refuse") == 1  # not retried
    handle = time_skipping.client.get_workflow_handle_for(
        FulfillmentOptionsWorkflow.run, ids.options_workflow_id("wf", ok.options_id)
    )
    await keep(handle, "fulfillment_options")


async def test_a_call_no_worker_answers_is_unavailable(temporal_client: Client) -> None:
    """On the dev server: a time-skipping server would not let time pass with a task nobody polls."""
    with pytest.raises(Unavailable) as unavailable:
        await OptionsClient(temporal_client, f"nobody-{uuid.uuid4().hex[:6]}", timeout=0.5).compute(job())
    assert unavailable.value.errors[0].code == "NO_WORKER"
