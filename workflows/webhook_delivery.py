"""Webhook delivery: one long-lived dispatcher per endpoint, delivering many subjects at once.

It delivers what the inline first attempt (`activities.webhook_delivery.FirstAttempts`, made by the
worker that wrote the event) did not: retries on the schedule, events behind a pending one, and every
event of an endpoint that is failing, slow or busy, or when FULFILLMENT_WEBHOOK_INLINE_MS is 0. The
measurements below are from before the inline attempt, when every event came this way.

Each subject (a session, an order) is a lane: its events go out one at a time in sequence order,
each until it succeeds or is given up, while other subjects' lanes go on; a lane waiting out a
backoff holds no HTTP slot. Pokes only say "this subject has more": each attempt reads the subject's
first pending event from the log, so order and de-duplication come from the log whatever order pokes
arrive in. An attempt is one local activity: the least CPU per event, since a busy dispatcher runs
many in one workflow task, and their reads and writes go to the database together. The price: while
a stream of them keeps the task open, new pokes wait for it, so under load delivery lags; an
endpoint's subjects can be spread over several dispatchers (`shard`, by a hash of the subject;
FULFILLMENT_WEBHOOK_DISPATCHERS), each with a share of the endpoint's concurrency, which cuts the
lag and costs CPU. (Measured with 16 actions in flight: one dispatcher, p99 1.7 s and 0.52x the
floor's lifecycles/s; eight, 1.0 s and 0.25x; regular activities instead, 0.5 s and 0.28x; rounds of
local activities ended by a no-op activity, 2.1 s.) A worker that dies mid-attempt has the attempt
retried: delivery is at least once, de-duplicated by receivers on `webhook-id`.

The dispatcher ends when idle (the next event starts it again, by signal-with-start) and continues
as new when its history grows, carrying the subjects waiting and those between attempts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhook_delivery import WebhookActivities
    from domain.events import Event
    from domain.webhooks import (
        AttemptOutcome,
        DeliveryRequest,
        DeliveryResult,
        NextAttempt,
        Outcome,
        Poke,
        Retrying,
        WebhookEndpoint,
        WebhookTarget,
    )
    from domain.webhooks import backoff as webhook_backoff

IDLE = timedelta(minutes=1)
INFRA_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)
READ_TIMEOUT = timedelta(seconds=30)
# The HTTP call has 15 s; past 20 s the worker is presumed dead and the attempt is retried.
ATTEMPT_TIMEOUT = timedelta(seconds=20)
INFRA_PAUSE = timedelta(minutes=1)
POKES_PER_RUN = 2000  # well under the server's signals-per-run limit (10,000 by default)


def backoff(schedule: list[int], attempt: int, result: DeliveryResult) -> timedelta:
    """`domain.webhooks.backoff` with jitter drawn from the workflow's seeded random."""
    retry_after = result.retry_after_seconds
    jitter = 1.0 if retry_after is not None else workflow.random().uniform(0.8, 1.2)
    return webhook_backoff(schedule, attempt, retry_after, jitter)


@workflow.defn(name="WebhookDispatcher")
class WebhookDispatcherWorkflow:
    @workflow.init
    def __init__(self, endpoint: WebhookEndpoint) -> None:
        self._endpoint = endpoint
        self._waiting = dict(endpoint.waiting)  # subject -> highest sequence poked
        self._retrying = dict(endpoint.retrying)
        self._lanes: set[str] = set()
        self._slots = asyncio.Semaphore(endpoint.concurrency)
        self._attempts = 0
        self._pokes = 0  # signals this run took: Temporal bounds them per run
        self._task, self._local_in_task = 0, 0  # local activities the current workflow task started
        self._ended = 0  # lanes that have ended, so the run loop can wait for the next
        self._disabled = False

    @workflow.signal
    def poke(self, poke: Poke) -> None:
        self._pokes += 1
        subject = poke.subject
        self._waiting[subject] = max(self._waiting.get(subject, 0), poke.sequence)
        handover = poke.handover
        if handover is not None and subject not in self._lanes and subject not in self._retrying:
            self._retrying[subject] = Retrying(
                event_id=handover.event_id,
                attempts=handover.attempts,
                not_before=workflow.now() + timedelta(seconds=handover.wait_seconds),
            )

    @workflow.run
    async def run(self, endpoint: WebhookEndpoint) -> str:
        while True:
            if not self._stopping():
                for subject in [s for s in self._waiting if s not in self._lanes][: self._room()]:
                    self._lanes.add(subject)
                    asyncio.create_task(self._lane(subject))  # noqa: RUF006 (tracked in _lanes)
            if self._lanes:
                ended = self._ended
                await workflow.wait_condition(
                    lambda ended=ended: (
                        self._ended != ended  # type: ignore[misc]
                        or (not self._stopping() and self._startable())
                    )
                )
            elif self._disabled:
                return "disabled"
            elif self._stopping() and (self._waiting or self._retrying):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    endpoint.model_copy(update={"waiting": self._waiting, "retrying": self._retrying})
                )
            else:
                try:
                    await workflow.wait_condition(lambda: bool(self._waiting), timeout=IDLE)
                except TimeoutError:
                    if not self._waiting:
                        return "idle"

    def _room(self) -> int:
        return max(self._endpoint.lanes - len(self._lanes), 0)

    def _startable(self) -> bool:
        """A poked subject with no lane, and room for one."""
        return self._room() > 0 and any(s not in self._lanes for s in self._waiting)

    def _stopping(self) -> bool:
        """Disabled, or time to continue as new: lanes finish what they are doing and stop."""
        return (
            self._disabled
            or self._attempts >= self._endpoint.run_limit
            or self._pokes >= POKES_PER_RUN
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _lane(self, subject: str) -> None:
        """Deliver the subject's pending events in order until none is left or the run stops."""
        try:
            while not self._stopping():
                self._waiting.pop(subject, None)
                retry = self._retrying.pop(subject, None)
                if retry is not None and not await self._wait(subject, retry):
                    break
                try:
                    outcome = await self._attempt(subject, retry)
                except ActivityError:
                    # The database or the workers kept failing past the activity's own retries:
                    # nothing is lost (the log has the events); try the subject again later.
                    if retry is not None:
                        self._retrying[subject] = retry
                    await workflow.sleep(INFRA_PAUSE)
                    continue
                result = outcome.result
                if not outcome.enabled or (result is not None and result.outcome == "disabled"):
                    self._disabled = True
                    return
                if result is not None and result.outcome == "failed":
                    wait = backoff(self._endpoint.schedule, outcome.attempt, result)
                    self._retrying[subject] = Retrying(
                        event_id=outcome.event_id or "",
                        attempts=outcome.attempt,
                        not_before=workflow.now() + wait,
                    )
                elif not outcome.more and subject not in self._waiting:
                    return  # nothing (else) pending
            self._waiting.setdefault(subject, 0)  # stopped with work perhaps left: the next run reads
        finally:
            self._lanes.discard(subject)
            self._ended += 1

    async def _attempt(self, subject: str, retry: Retrying | None) -> AttemptOutcome:
        """One attempt at the subject's first pending event, holding one of the dispatcher's slots.

        A local activity (the quickest way to the endpoint), unless this workflow task has started
        `concurrency` of them already: then a regular one, which does not keep the task open, so the
        task ends once its local activities are done and the pokes waiting for it get in."""
        attempt = NextAttempt(
            tenant=self._endpoint.tenant,
            webhook_id=self._endpoint.webhook_id,
            subject=subject,
            schedule=self._endpoint.schedule,
            retrying=retry,
            now=workflow.now(),
        )
        async with self._slots:
            self._attempts += 1
            # History grows only between workflow tasks (not as local activities resolve, and
            # workflow time moves with each of those): so a new length is a new task.
            task = workflow.info().get_current_history_length()
            if task != self._task:
                self._task, self._local_in_task = task, 0
            if self._local_in_task < self._endpoint.concurrency:
                self._local_in_task += 1
                return await workflow.execute_local_activity_method(
                    WebhookActivities.deliver_next,
                    attempt,
                    start_to_close_timeout=ATTEMPT_TIMEOUT,
                    retry_policy=INFRA_RETRY,
                )
            return await workflow.execute_activity_method(
                WebhookActivities.deliver_next,
                attempt,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=INFRA_RETRY,
            )

    async def _wait(self, subject: str, retry: Retrying) -> bool:
        """Sleep until the next attempt; False (and the wait carried) if the run stops first."""
        left = retry.not_before - workflow.now()
        if left <= timedelta(0):
            return True
        try:
            await workflow.wait_condition(self._stopping, timeout=left)
        except TimeoutError:
            return True
        self._retrying[subject] = retry
        return False


@workflow.defn(name="WebhookDelivery")
class WebhookDeliveryWorkflow:
    """The delivery workflow of releases up to 0.2, one per (webhook, subject); replaced by
    `WebhookDispatcherWorkflow`. Still registered so that runs in flight when upgrading finish
    (they end after a minute idle or their last retry); remove it in release 0.4."""

    def __init__(self) -> None:
        self._pokes = 0

    @workflow.signal
    def poke(self, sequence: int) -> None:
        self._pokes += 1

    @workflow.run
    async def run(self, target: WebhookTarget) -> str:
        while True:
            seen = self._pokes
            pending = await workflow.execute_local_activity_method(
                WebhookActivities.webhook_pending,
                target,
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=INFRA_RETRY,
            )
            if not pending.enabled:
                return "disabled"
            for event in pending.events:
                if await self._deliver(target, event) == "disabled":
                    return "disabled"
            if pending.events:
                if workflow.info().is_continue_as_new_suggested():
                    workflow.continue_as_new(target)
                continue
            try:
                await workflow.wait_condition(lambda seen=seen: self._pokes != seen, timeout=IDLE)  # type: ignore[misc]
            except TimeoutError:
                if self._pokes == seen:
                    return "idle"

    async def _deliver(self, target: WebhookTarget, event: Event) -> Outcome:
        attempts = len(target.schedule) + 1
        for attempt in range(1, attempts + 1):
            result = await workflow.execute_local_activity_method(
                WebhookActivities.deliver_webhook,
                DeliveryRequest(
                    tenant=target.tenant,
                    webhook_id=target.webhook_id,
                    event=event,
                    attempt=attempt,
                    final=attempt == attempts,
                    now=workflow.now(),
                ),
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=INFRA_RETRY,
            )
            if result.outcome != "failed":
                return result.outcome
            await workflow.sleep(backoff(target.schedule, attempt, result))
        return "gave_up"
