"""Webhook retries on the time-skipping server, with the default schedule (5 s, 5 min, 30 min, 2 h, ...).

The stack here makes no first attempt inline (see `skipping_settings`) but in the handover test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from clients.sessions import SessionClient
from config.settings import Settings
from domain import ids
from domain.builtins import WEB_ORDER
from domain.session import ActionRequest, SessionStart
from storage import events, webhooks
from storage.tables import WebhookAttemptRow
from tests.receiver import Endpoint, Receiver
from workers.worker import running_workers


def hook(
    engine: Engine, receiver: Receiver, script: list[tuple[int, dict[str, str]]]
) -> tuple[str, str, Endpoint]:
    tenant = f"r-{uuid.uuid4().hex[:8]}"
    row = webhooks.create(engine, tenant, receiver.url(tenant), ["session.*"], "", datetime.now(UTC))
    endpoint = receiver.endpoint(tenant, row.secret)
    endpoint.script = script
    return tenant, row.id, endpoint


async def session(env: WorkflowEnvironment, settings: Settings, tenant: str, actions: list[str]) -> str:
    start = SessionStart(
        tenant=tenant, session_id=f"ses_{uuid.uuid4().hex[:12]}", cart_id="c", definition=WEB_ORDER
    )
    client = SessionClient(env.client, settings.task_queue, None)
    await client.start(start)
    for action in actions:
        await client.act(tenant, start.session_id, ActionRequest(action=action))
    return start.session_id


def attempts(engine: Engine, tenant: str, webhook_id: str) -> list[WebhookAttemptRow]:
    return list(reversed(webhooks.attempts(engine, tenant, webhook_id)))


async def test_failures_are_retried_on_schedule_in_order_per_subject(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    tenant, webhook_id, endpoint = hook(engine, receiver, [(500, {}), (500, {}), (200, {})])
    first = await session(skipping, skipping_settings, tenant, ["confirm"])
    await skipping.sleep(timedelta(hours=1))
    got = await endpoint.wait_for(2)
    # Every delivery verifies; the first event came three times with one id, and its successor only after.
    assert all(d.verified_with for d in endpoint.received)
    assert [(d.body["sequence"], d.answered) for d in endpoint.received] == [
        (1, 500),
        (1, 500),
        (1, 200),
        (2, 200),
    ]
    assert len({d.webhook_id for d in endpoint.received[:3]}) == 1
    assert [d.body["sequence"] for d in got] == [1, 2] and got[0].body["subject"] == first
    tried = attempts(engine, tenant, webhook_id)
    assert [(a.attempt, a.outcome) for a in tried] == [
        (1, "failed"),
        (2, "failed"),
        (3, "delivered"),
        (1, "delivered"),
    ]
    gaps = [(tried[i + 1].at - tried[i].at).total_seconds() for i in range(2)]
    # 5 s and 5 min, jittered by up to 20 %, plus the failed attempt's own time (stamped after it)
    assert 4 <= gaps[0] <= 6.5 and 240 <= gaps[1] <= 361


async def test_a_failing_subject_does_not_block_another(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    tenant, _, endpoint = hook(engine, receiver, [(500, {}), (200, {})])
    stuck = await session(skipping, skipping_settings, tenant, [])
    free = await session(skipping, skipping_settings, tenant, [])
    await skipping.sleep(timedelta(minutes=1))
    got = await endpoint.wait_for(2)
    assert {d.body["subject"] for d in got} == {stuck, free}
    # Whichever creation went out first got the 500; the other went out next, not after its retry.
    failing, following = endpoint.received[0], endpoint.received[1]
    assert failing.answered == 500
    assert following.body["subject"] == ({stuck, free} - {failing.body["subject"]}).pop()
    assert following.answered == 200


async def test_retry_after_is_honoured(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    tenant, webhook_id, endpoint = hook(engine, receiver, [(503, {"Retry-After": "120"}), (200, {})])
    await session(skipping, skipping_settings, tenant, [])
    await skipping.sleep(timedelta(minutes=5))
    await endpoint.wait_for(1)
    first, second = attempts(engine, tenant, webhook_id)
    assert 120 <= (second.at - first.at).total_seconds() < 121


async def test_an_event_is_given_up_after_the_schedule_and_the_next_goes_on(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    failures: list[tuple[int, dict[str, str]]] = [(500, {})] * 8
    tenant, webhook_id, endpoint = hook(engine, receiver, [*failures, (200, {})])
    await session(skipping, skipping_settings, tenant, ["confirm"])
    await skipping.sleep(timedelta(days=2))
    got = await endpoint.wait_for(1)
    assert [d.body["sequence"] for d in got] == [2]
    tried = attempts(engine, tenant, webhook_id)
    assert [a.outcome for a in tried] == ["failed"] * 7 + ["gave_up", "delivered"]
    assert webhooks.get(engine, tenant, webhook_id).enabled


async def test_an_endpoint_failing_for_five_days_is_disabled(
    skipping: WorkflowEnvironment, skipping_settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    tenant, webhook_id, _ = hook(engine, receiver, [(500, {})])
    await session(skipping, skipping_settings, tenant, ["confirm", "pick", "pack", "ship", "deliver"])
    await skipping.sleep(timedelta(days=10))
    row = webhooks.get(engine, tenant, webhook_id)
    assert not row.enabled and "failed continuously" in (row.disabled_reason or "")
    tried = attempts(engine, tenant, webhook_id)
    assert tried[-1].outcome == "disabled"
    assert timedelta(days=5) <= tried[-1].at - tried[0].at < timedelta(days=6)
    notices = events.list_events(engine, tenant, types=["endpoint.disabled"])
    assert [n.data["webhookId"] for n in notices] == [webhook_id]


async def test_a_failed_inline_attempt_is_handed_over_numbered_and_waited_out(
    time_skipping: WorkflowEnvironment, settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    """The worker that committed the event made attempt 1 inline; the dispatcher makes attempt 2 after
    the endpoint's Retry-After, and the subject's next event only after that."""
    inline = settings.model_copy(
        update={"task_queue": "skip-inline", "notifications_task_queue": "skip-inline-notify"}
    )
    assert inline.webhook_inline_ms > 0
    tenant, webhook_id, endpoint = hook(engine, receiver, [(503, {"Retry-After": "120"}), (200, {})])
    async with running_workers(time_skipping.client, engine, inline):
        await session(time_skipping, inline, tenant, ["confirm"])
        assert [(d.body["sequence"], d.answered) for d in endpoint.received] == [(1, 503)]  # inline
        await time_skipping.sleep(timedelta(minutes=5))
        await endpoint.wait_for(2)
        history = await time_skipping.client.get_workflow_handle(
            ids.dispatcher_workflow_id(tenant, webhook_id, 0)
        ).fetch_history()
    assert [(d.body["sequence"], d.answered) for d in endpoint.received] == [(1, 503), (1, 200), (2, 200)]
    tried = attempts(engine, tenant, webhook_id)
    assert [(a.attempt, a.outcome) for a in tried] == [(1, "failed"), (2, "delivered"), (1, "delivered")]
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in history.events
        if e.HasField("timer_started_event_attributes")
    ]
    assert timers[0] == timedelta(seconds=120)  # the Retry-After, counted from the handover
