"""The session workflow alone: its recording activity is a stand-in that keeps what it is given."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.partners import PartnerActivities
from activities.sessions import SessionActivities, SessionStock
from clients.sessions import SessionClient
from domain.builtins import CLICK_AND_COLLECT, WEB_ORDER
from domain.changes import AppliedChange, ChangeSet, HeldStock
from domain.errors import Conflict, from_failure
from domain.ids import session_workflow_id
from domain.partners import CallResult, Notification, PartnerCall, PartnerEvent
from domain.process import ProcessDefinition, validate_definition
from domain.session import ActionRequest, SessionChange, SessionStart, SessionView
from tests.workflows.support import keep, stand_in, worker
from workflows import session as session_module
from workflows.session import SessionWorkflow


class Recorder:
    """Stand-ins for the session's bookkeeping: its records, and what it does with its stock."""

    def __init__(self) -> None:
        self.changes: list[SessionChange] = []
        self.stock: list[tuple[str, SessionStock]] = []

        @stand_in(SessionActivities.record_session_change)
        async def record(change: SessionChange) -> None:
            self.changes.append(change)

        @stand_in(SessionActivities.hold_session_stock)
        async def hold(stock: SessionStock) -> bool:
            self.stock.append(("hold", stock))
            return True

        @stand_in(SessionActivities.settle_session_stock)
        async def settle(stock: SessionStock) -> int:
            self.stock.append(("settle", stock))
            return 0

        @stand_in(SessionActivities.adopt_change_stock)
        async def adopt(stock: SessionStock) -> None:
            self.stock.append(("adopt", stock))

        self.activities: list[Callable[..., Any]] = [record, hold, settle, adopt]

    def trail(self) -> list[tuple[str, str, str]]:
        return [(c.revision.action, c.revision.to, c.revision.actor) for c in self.changes]


def start_of(definition: ProcessDefinition) -> SessionStart:
    return SessionStart(
        tenant="wf", session_id=f"ses_{uuid.uuid4().hex[:12]}", cart_id="cart", definition=definition
    )


async def test_each_action_is_recorded_before_it_returns_and_a_refused_one_changes_nothing(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder = Recorder()
    async with worker(time_skipping, [SessionWorkflow], recorder.activities) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(WEB_ORDER)
        created = await sessions.start(start)
        assert (created.status, created.revision, created.allowed_actions) == (
            "CREATED",
            0,
            ["confirm", "reject", "cancel"],
        )
        assert (
            await sessions.view("wf", start.session_id) == created
        )  # the start's answer is the workflow's view
        for action in ("confirm", "pick"):
            await sessions.act("wf", start.session_id, ActionRequest(action=action, actor="picker"))
        assert recorder.trail() == [
            ("create", "CREATED", "system"),  # recorded by the workflow's first task
            ("confirm", "CONFIRMED", "picker"),
            ("pick", "PICKED", "picker"),
        ]

        handle: WorkflowHandle[SessionWorkflow, SessionView] = time_skipping.client.get_workflow_handle_for(
            SessionWorkflow.run, session_workflow_id("wf", start.session_id)
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(SessionWorkflow.act, ActionRequest(action="deliver"))
        error = from_failure(refused.value.cause)
        assert isinstance(error, Conflict)
        assert error.extra == {"currentStatus": "PICKED", "allowedActions": ["pack", "cancel"]}
        assert error.errors[0].field == "action"

        view = await sessions.view("wf", start.session_id)
        assert (view.status, view.revision) == ("PICKED", 2) and len(recorder.changes) == 3
        for action in ("pack", "ship", "deliver", "finish"):
            await sessions.act("wf", start.session_id, ActionRequest(action=action))
        final = await handle.result()
        assert final.status == "FINISHED" and final.terminal
        await keep(handle, "session_web_order")


async def test_an_action_in_the_first_task_is_recorded_after_the_creation_never_alongside_it(
    time_skipping: WorkflowEnvironment,
) -> None:
    """A start answers before any worker has run the session, so a client's first action can reach
    the workflow's first task, where its handler runs before `run` records the creation. An
    Update-with-start puts them in one task for certain. The records commit events: run at once,
    revision 1 could commit before revision 0 and a reader of the log (webhooks) would pass it by."""
    calls: list[tuple[str, int]] = []
    second_began = asyncio.Event()

    @stand_in(SessionActivities.record_session_change)
    async def record(change: SessionChange) -> None:
        revision = change.revision.revision
        calls.append(("begin", revision))
        if revision == 1:
            second_began.set()
        else:  # revision 1's record must not begin while this one runs: give it every chance to
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(second_began.wait(), 0.5)
        calls.append(("end", revision))

    async with worker(time_skipping, [SessionWorkflow], [record]) as queue:
        start = start_of(WEB_ORDER)
        together = time_skipping.client.execute_update_with_start_workflow(
            SessionWorkflow.act,
            ActionRequest(action="confirm"),
            start_workflow_operation=WithStartWorkflowOperation(
                SessionWorkflow.run,
                start,
                id=session_workflow_id("wf", start.session_id),
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            ),
        )
        confirmed = await asyncio.wait_for(together, 20)
    assert (confirmed.status, confirmed.revision) == ("CONFIRMED", 1)
    assert calls == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1)]


async def test_a_timer_step_applies_its_action_as_the_system_in_workflow_time(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder = Recorder()
    async with worker(time_skipping, [SessionWorkflow], recorder.activities) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(CLICK_AND_COLLECT)
        await sessions.start(start)
        for action in ("confirm", "pick", "mark_ready"):
            ready = await sessions.act("wf", start.session_id, ActionRequest(action=action))
        handle: WorkflowHandle[SessionWorkflow, SessionView] = time_skipping.client.get_workflow_handle_for(
            SessionWorkflow.run, session_workflow_id("wf", start.session_id)
        )
        await time_skipping.sleep(timedelta(days=3) - timedelta(seconds=1))
        assert (await handle.query(SessionWorkflow.view)).status == "READY_FOR_PICKUP"
        await time_skipping.sleep(timedelta(seconds=2))
        final = await handle.result()
        assert final.status == "NOT_COLLECTED"
        assert recorder.trail()[-1] == ("expire", "NOT_COLLECTED", "system:timer")
        assert timedelta(days=3) <= final.updated_at - ready.updated_at < timedelta(days=3, seconds=1)
        await keep(handle, "session_click_and_collect_expired")


async def test_a_pickup_session_holds_its_items_takes_an_accepted_change_and_consumes_them_collected(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder = Recorder()
    async with worker(time_skipping, [SessionWorkflow], recorder.activities) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        items = [{"sku": "S", "quantity": 1}, {"sku": "S", "quantity": 2}]
        start = start_of(CLICK_AND_COLLECT).model_copy(
            update={"context": {"locationRef": "A", "items": items}}
        )
        await sessions.start(start)
        await sessions.act("wf", start.session_id, ActionRequest(action="confirm"))
        moved = HeldStock(location_ref="B", sku="S", quantity=3)
        change = AppliedChange(
            change_id="chg_1",
            changes=ChangeSet(location_ref="B", pickup_time=datetime(2030, 6, 3, 10, tzinfo=UTC)),
            reason="A closes early",
            actor="customer:7",
            holds=[moved],
        )
        changed = await sessions.apply_change("wf", start.session_id, change)
        assert (changed.status, changed.revision, changed.allowed_actions) == (
            "CONFIRMED",
            2,
            ["pick", "cancel"],
        )
        assert (
            changed.context["locationRef"] == "B"
            and changed.context["pickupTime"] == "2030-06-03T10:00:00+00:00"
        )
        assert await sessions.apply_change("wf", start.session_id, change) == changed  # the same Update, once
        for action in ("pick", "mark_ready", "finish"):
            await sessions.act("wf", start.session_id, ActionRequest(action=action))
        handle: WorkflowHandle[SessionWorkflow, SessionView] = time_skipping.client.get_workflow_handle_for(
            SessionWorkflow.run, session_workflow_id("wf", start.session_id)
        )
        assert (await handle.result()).status == "COLLECTED"
        await keep(handle, "session_pickup_changed")
    assert [(c.revision.action, c.revision.from_, c.revision.to, c.revision.actor) for c in recorder.changes][
        1:3
    ] == [
        ("confirm", "CREATED", "CONFIRMED", "system"),
        ("accept_change", "CONFIRMED", "CONFIRMED", "customer:7"),
    ]
    assert recorder.changes[2].revision.data["changeId"] == "chg_1"
    assert [(kind, s.holds, s.consumed, s.change_id) for kind, s in recorder.stock] == [
        ("hold", [HeldStock(location_ref="A", sku="S", quantity=3)], False, None),
        ("adopt", [moved], False, "chg_1"),
        ("settle", [], True, None),  # collected: consumed
    ]


async def test_a_retried_start_answers_the_running_session_and_a_closed_one_is_a_conflict(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder = Recorder()
    async with worker(time_skipping, [SessionWorkflow], recorder.activities) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(WEB_ORDER)
        await sessions.start(start)
        await sessions.act("wf", start.session_id, ActionRequest(action="confirm"))
        again = await sessions.start(start)  # e.g. an order activity retried after a crash
        assert (again.status, again.revision) == ("CONFIRMED", 1)
        assert len(recorder.changes) == 2  # no second creation
        await sessions.act("wf", start.session_id, ActionRequest(action="cancel"))
        await time_skipping.client.get_workflow_handle(session_workflow_id("wf", start.session_id)).result()
        with pytest.raises(Conflict) as closed:
            await sessions.start(start)
        assert closed.value.errors[0].code == "SESSION_CLOSED"


def test_the_unsandboxed_session_workflow_reaches_for_no_clock_randomness_or_io() -> None:
    """The session workflow runs outside the SDK's sandbox (for speed), so what the sandbox would
    catch at run time is checked here: its module calls nothing that differs on replay."""
    source = Path(session_module.__file__).read_text()
    tree = ast.parse(source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"time", "random", "uuid", "os", "socket", "threading", "aiohttp", "sqlalchemy"}
    for forbidden in ("datetime.now", "datetime.utcnow", "asyncio.sleep", "open("):
        assert forbidden not in source, forbidden


PARTNERED = validate_definition(
    {
        "type": "PARTNERED",
        "states": [
            {
                "name": "NEW",
                "steps": [{"kind": "notify", "event": "opened", "payload": {"cart": "{{session.cartId}}"}}],
            },
            {
                "name": "SUBMITTED",
                "steps": [
                    {
                        "kind": "call",
                        "connector": "oms",
                        "path": "/orders/{{session.reference}}",
                        "body": {"lines": "{{data.lines}}"},
                        "resultKey": "oms",
                        "onSuccess": "accept",
                        "onFailure": "reject",
                        "maxAttempts": 3,
                    }
                ],
            },
            {
                "name": "ACCEPTED",
                "steps": [
                    {
                        "kind": "await",
                        "event": "outbound.shipped",
                        "action": "ship",
                        "timeoutSeconds": 86400,
                        "onTimeout": "reject",
                    }
                ],
            },
            {"name": "SHIPPED"},
            {"name": "REJECTED"},
        ],
        "initialState": "NEW",
        "terminalStates": ["SHIPPED", "REJECTED"],
        "transitions": [
            {"from": "NEW", "action": "submit", "to": "SUBMITTED"},
            {"from": "SUBMITTED", "action": "accept", "to": "ACCEPTED"},
            {"from": "SUBMITTED", "action": "reject", "to": "REJECTED"},
            {"from": "ACCEPTED", "action": "ship", "to": "SHIPPED"},
            {"from": "ACCEPTED", "action": "reject", "to": "REJECTED"},
        ],
    }
)


async def test_a_call_retried_after_the_inline_attempt_then_an_early_event_walk_a_session(
    time_skipping: WorkflowEnvironment,
) -> None:
    """The inline attempt fails with a Retry-After; the retry waits it out in workflow time, with the
    same request; the answer lands in the context; an event that came early is applied on entry."""
    recorder = Recorder()
    calls: list[tuple[bool, PartnerCall]] = []
    notified: list[Notification] = []

    @stand_in(PartnerActivities.call_partner)
    async def call_partner(call: PartnerCall) -> CallResult:
        calls.append((activity.info().is_local, call))
        if activity.info().is_local:
            raise ApplicationError(
                "oms answered 503", type="PartnerFailed", next_retry_delay=timedelta(minutes=10)
            )
        return CallResult(status=201, body={"omsOrderId": "O-1"})

    @stand_in(SessionActivities.notify)
    async def notify(notification: Notification) -> None:
        notified.append(notification)

    async with worker(
        time_skipping, [SessionWorkflow], [*recorder.activities, call_partner, notify]
    ) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(PARTNERED).model_copy(update={"reference": "R/1"})
        await sessions.start(start)
        handle: WorkflowHandle[SessionWorkflow, SessionView] = time_skipping.client.get_workflow_handle_for(
            SessionWorkflow.run, session_workflow_id("wf", start.session_id)
        )
        early = PartnerEvent(
            id="evt-1", connector="oms", type="outbound.shipped", data={"n": 1}, received_at=datetime.now(UTC)
        )
        await handle.signal(SessionWorkflow.partner_event, early)
        await handle.signal(SessionWorkflow.partner_event, early)  # the same event again: once
        await sessions.act("wf", start.session_id, ActionRequest(action="submit", data={"lines": [1, 2]}))
        await time_skipping.sleep(timedelta(minutes=10, seconds=1))  # the partner's Retry-After
        final = await handle.result()
        history = await handle.fetch_history()
    assert final.status == "SHIPPED" and final.context == {"oms": {"omsOrderId": "O-1"}}
    assert recorder.trail()[1:] == [
        ("submit", "SUBMITTED", "system"),
        ("accept", "ACCEPTED", "system:call"),
        ("ship", "SHIPPED", "partner:oms"),
    ]
    assert [local for local, _ in calls] == [True, False]
    (_, inline), (_, retry) = calls
    assert inline.idempotency_key == retry.idempotency_key == f"{start.session_id}:1:0"
    assert (inline.path, inline.body, inline.timeout_seconds, retry.attempts_before) == (
        "/orders/R%2F1",
        {"lines": [1, 2]},
        2.0,
        1,
    )
    timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
    assert timers[0].timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == timedelta(
        minutes=10
    )
    assert [(n.type, n.sequence, n.data["payload"]) for n in notified] == [
        ("process.opened", 1, {"cart": "cart"})
    ]
    await keep(handle, "session_partner_steps")


HOLDABLE = validate_definition(
    {
        **PARTNERED.model_dump(mode="json", by_alias=True, exclude={"version"}),
        "type": "HOLDABLE",
        "states": [
            *PARTNERED.model_dump(mode="json", by_alias=True)["states"],
            {"name": "HELD", "steps": [{"kind": "notify", "event": "held"}]},
        ],
        "transitions": [
            *PARTNERED.model_dump(mode="json", by_alias=True)["transitions"],
            {"from": "SUBMITTED", "action": "hold", "to": "HELD"},
            {"from": "HELD", "action": "release", "to": "REJECTED"},
        ],
    }
)


async def test_an_answer_that_comes_after_the_session_moved_on_changes_nothing(
    time_skipping: WorkflowEnvironment,
) -> None:
    """And entry steps run after their change is recorded: its events come first."""
    order: list[str] = []

    @stand_in(SessionActivities.record_session_change)
    async def record(change: SessionChange) -> None:
        order.append(f"record {change.revision.action}")

    @stand_in(PartnerActivities.call_partner)
    async def call_partner(call: PartnerCall) -> CallResult:
        if activity.info().is_local:
            raise ApplicationError("busy", type="PartnerFailed", next_retry_delay=timedelta(minutes=10))
        order.append("answered")
        return CallResult(status=200, body={"late": True})

    @stand_in(SessionActivities.notify)
    async def notify(notification: Notification) -> None:
        order.append(f"notify {notification.type}")

    async with worker(time_skipping, [SessionWorkflow], [record, call_partner, notify]) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(HOLDABLE)
        await sessions.start(start)
        await sessions.act("wf", start.session_id, ActionRequest(action="submit"))
        held = await sessions.act("wf", start.session_id, ActionRequest(action="hold"))
        await time_skipping.sleep(timedelta(minutes=11))  # the retry answers, too late
        after = await sessions.view("wf", start.session_id)
        final = await sessions.act("wf", start.session_id, ActionRequest(action="release"))
    assert held.status == after.status == "HELD" and after.revision == held.revision
    assert after.context == {} and final.status == "REJECTED"
    assert order == [
        "record create",
        "notify process.opened",
        "record submit",
        "record hold",
        "notify process.held",
        "answered",
        "record release",
    ]
