"""The webhook dispatcher alone, with stand-in activities over an in-memory log, on the time-skipping
server: order within a subject, subjects independent of each other, the endpoint's concurrency
bound, and what a continue-as-new carries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from clients.events import POKE
from domain import ids
from domain.events import Event
from domain.webhooks import AttemptOutcome, DeliveryResult, NextAttempt, Poke, WebhookEndpoint
from tests.workflows.support import keep, stand_in, worker
from workflows.webhook_delivery import IDLE, WebhookActivities, WebhookDispatcherWorkflow

SCHEDULE = [5, 300]
OK = DeliveryResult(outcome="delivered", status_code=204)


def event(subject: str, sequence: int) -> Event:
    return Event(
        id=ids.event_id("wf", subject, sequence),
        type="session.status_changed",
        tenant="wf",
        subject=subject,
        sequence=sequence,
        cursor=sequence,
        occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
        data={},
    )


Script = dict[tuple[int, int], DeliveryResult]  # (sequence, attempt) -> the endpoint's answer


class Log:
    """A stand-in for the dispatcher's activity over an in-memory log: it attempts the subject's
    first unhandled event, numbering the attempt as the real one does, answers from the subject's
    script by (sequence, attempt) (204 where it says nothing, so an attempt run again gets the same
    answer), and marks a delivered or given-up event handled."""

    def __init__(self, subjects: dict[str, int], scripts: dict[str, Script]):
        self.events = {s: [event(s, n) for n in range(1, count + 1)] for s, count in subjects.items()}
        self.handled = dict.fromkeys(subjects, 0)
        self.scripts = scripts
        self.attempts: list[tuple[str, int, int, datetime, bool]] = []
        self.in_flight = self.most_in_flight = 0
        self.gate: asyncio.Event | None = None  # when set up, attempts overlap (see `deliver`)
        self.bound = 0

        @stand_in(WebhookActivities.deliver_next)
        async def deliver(request: NextAttempt) -> AttemptOutcome:
            left = [e for e in self.events[request.subject] if e.sequence > self.handled[request.subject]]
            if not left:
                return AttemptOutcome()
            e, carried = left[0], request.retrying
            attempt = carried.attempts + 1 if carried is not None and carried.event_id == e.id else 1
            final = attempt == len(request.schedule) + 1
            self.attempts.append((e.subject, e.sequence, attempt, request.now, final))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                if self.gate is not None:
                    # Hold the attempt until one more than the bound is in flight alongside it: never,
                    # when the bound holds, so each is let go after half a second.
                    if self.in_flight > self.bound:
                        self.gate.set()
                    await asyncio.wait_for(self.gate.wait(), 0.5)
            except TimeoutError:
                pass
            finally:
                self.in_flight -= 1
            result = self.scripts.get(e.subject, {}).get((e.sequence, attempt), OK)
            if result.outcome == "delivered" or final:
                self.handled[e.subject] = e.sequence
            return AttemptOutcome(event_id=e.id, attempt=attempt, result=result, more=len(left) > 1)

        self.activities: list[Callable[..., Any]] = [deliver]

    def of(self, subject: str) -> list[tuple[int, int]]:
        """The subject's (sequence, attempt) pairs in order, an attempt run twice counted once."""
        return list(dict.fromkeys((seq, n) for s, seq, n, _, _ in self.attempts if s == subject))

    def times(self, subject: str) -> list[datetime]:
        first: dict[tuple[int, int], datetime] = {}
        for s, seq, n, at, _ in self.attempts:
            if s == subject:
                first.setdefault((seq, n), at)
        return list(first.values())


async def dispatch(
    env: WorkflowEnvironment, queue: str, subjects: list[str], **endpoint: Any
) -> WorkflowHandle[WebhookDispatcherWorkflow, str]:
    """Poke the dispatcher once per subject, the first poke starting it; the first run's handle."""
    spec = WebhookEndpoint(tenant="wf", webhook_id="wh_1", schedule=SCHEDULE, **endpoint)
    workflow_id = ids.dispatcher_workflow_id("wf", f"wh_{uuid.uuid4().hex[:6]}", 0)
    handles = [
        await env.client.start_workflow(
            WebhookDispatcherWorkflow.run,
            spec,
            id=workflow_id,
            task_queue=queue,
            start_signal=POKE,
            start_signal_args=[Poke(subject=subject, sequence=1)],
        )
        for subject in subjects
    ]
    return handles[0]


async def test_a_subjects_events_go_out_in_order_on_the_schedule_and_the_dispatcher_ends_when_idle(
    time_skipping: WorkflowEnvironment,
) -> None:
    log = Log(
        {"ses_a": 2},
        {
            "ses_a": {
                (1, 1): DeliveryResult(outcome="failed", status_code=500),
                (1, 2): DeliveryResult(outcome="failed", status_code=429, retry_after_seconds=42),
                (1, 3): DeliveryResult(outcome="delivered", status_code=200),
            }
        },
    )
    async with worker(time_skipping, [WebhookDispatcherWorkflow], log.activities) as queue:
        handle = await dispatch(time_skipping, queue, ["ses_a"])
        assert await handle.result() == "idle"
    assert log.of("ses_a") == [(1, 1), (1, 2), (1, 3), (2, 1)]
    assert [final for *_, final in log.attempts] == [False, False, True, False]
    at = log.times("ses_a")
    assert (
        timedelta(seconds=4) <= at[1] - at[0] <= timedelta(seconds=6.5)
    )  # 5 s with jitter, plus the attempt
    assert timedelta(seconds=42) <= at[2] - at[1] < timedelta(seconds=43)  # Retry-After wins
    assert at[3] - at[2] < timedelta(seconds=1)  # the next event goes at once
    assert (await handle.describe()).close_time - at[3] >= IDLE  # type: ignore[operator]
    await keep(handle, "webhook_dispatcher")


async def test_a_subject_waiting_out_a_backoff_does_not_hold_up_the_others(
    time_skipping: WorkflowEnvironment,
) -> None:
    down = DeliveryResult(outcome="failed", status_code=503)
    log = Log({"ses_slow": 1, "ses_b": 3, "ses_c": 1}, {"ses_slow": {(1, 1): down, (1, 2): down}})
    async with worker(time_skipping, [WebhookDispatcherWorkflow], log.activities) as queue:
        handle = await dispatch(time_skipping, queue, ["ses_slow", "ses_b", "ses_c"])
        assert await handle.result() == "idle"
    assert log.of("ses_slow") == [(1, 1), (1, 2), (1, 3)]
    assert log.of("ses_b") == [(1, 1), (2, 1), (3, 1)]
    # b and c were delivered within the first backoff of ses_slow (5 s), not after its 300 s
    assert max(log.times("ses_b") + log.times("ses_c")) - log.times("ses_slow")[0] < timedelta(seconds=4)


async def test_attempts_in_flight_to_one_endpoint_are_bounded(time_skipping: WorkflowEnvironment) -> None:
    log = Log({f"ses_{n}": 1 for n in range(4)}, {})
    log.gate, log.bound = asyncio.Event(), 2
    async with worker(time_skipping, [WebhookDispatcherWorkflow], log.activities) as queue:
        handle = await dispatch(time_skipping, queue, list(log.events), concurrency=2)
        assert await handle.result() == "idle"
    assert all(log.of(subject) == [(1, 1)] for subject in log.events)
    assert log.most_in_flight == 2


async def test_continuing_as_new_carries_a_subject_between_attempts_and_its_schedule(
    time_skipping: WorkflowEnvironment,
) -> None:
    failed = DeliveryResult(outcome="failed", status_code=500)
    log = Log({"ses_a": 1, "ses_b": 1}, {"ses_a": {(1, 1): failed}})
    async with worker(time_skipping, [WebhookDispatcherWorkflow], log.activities) as queue:
        handle = await dispatch(time_skipping, queue, ["ses_a", "ses_b"], run_limit=1, concurrency=1)
        assert await handle.result() == "idle"  # the last run's
        first_run = await time_skipping.client.get_workflow_handle(
            handle.id, run_id=handle.result_run_id
        ).fetch_history()
    assert first_run.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    assert log.of("ses_a") == [(1, 1), (1, 2)]  # the second attempt knows it is the second
    assert log.of("ses_b") == [(1, 1)]
    at = log.times("ses_a")
    assert timedelta(seconds=4) <= at[1] - at[0] <= timedelta(seconds=6.5)  # the carried backoff held


async def test_many_more_subjects_than_slots_all_go_out_in_order(time_skipping: WorkflowEnvironment) -> None:
    """Past `concurrency` local activities in one workflow task, attempts are regular activities, so
    the task can end and pokes get in; every event still goes, in order, within the bound."""
    log = Log({f"ses_{n}": 2 for n in range(12)}, {})
    async with worker(time_skipping, [WebhookDispatcherWorkflow], log.activities) as queue:
        handle = await dispatch(time_skipping, queue, list(log.events), concurrency=3)
        assert await handle.result() == "idle"
        history = await handle.fetch_history()
    assert all(log.of(subject) == [(1, 1), (2, 1)] for subject in log.events)
    assert log.most_in_flight <= 3
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_MARKER_RECORDED in kinds  # local activities, the first few of a task
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED in kinds  # regular ones past them
