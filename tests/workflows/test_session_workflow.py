"""The session workflow alone: its recording activity is a stand-in that keeps what it is given."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.sessions import SessionActivities
from clients.sessions import SessionClient
from domain.builtins import CLICK_AND_COLLECT, WEB_ORDER
from domain.errors import Conflict, from_failure
from domain.ids import session_workflow_id
from domain.process import ProcessDefinition
from domain.session import ActionRequest, SessionChange, SessionStart
from tests.workflows.support import keep, stand_in, worker
from workflows.session import SessionWorkflow


class Recorder:
    def __init__(self) -> None:
        self.changes: list[SessionChange] = []

        @stand_in(SessionActivities.record_session_change)
        async def record(change: SessionChange) -> None:
            self.changes.append(change)

        self.activity = record

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
    async with worker(time_skipping, [SessionWorkflow], [recorder.activity]) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(WEB_ORDER)
        created = await sessions.start(start)
        assert (created.status, created.revision) == ("CREATED", 0)
        assert recorder.trail() == [("create", "CREATED", "system")]  # recorded before start returned
        for action in ("confirm", "pick"):
            await sessions.act("wf", start.session_id, ActionRequest(action=action, actor="picker"))
        assert recorder.trail()[1:] == [("confirm", "CONFIRMED", "picker"), ("pick", "PICKED", "picker")]

        handle = time_skipping.client.get_workflow_handle_for(
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


async def test_a_timer_step_applies_its_action_as_the_system_in_workflow_time(
    time_skipping: WorkflowEnvironment,
) -> None:
    recorder = Recorder()
    async with worker(time_skipping, [SessionWorkflow], [recorder.activity]) as queue:
        sessions = SessionClient(time_skipping.client, queue, None)
        start = start_of(CLICK_AND_COLLECT)
        await sessions.start(start)
        for action in ("confirm", "pick", "mark_ready"):
            ready = await sessions.act("wf", start.session_id, ActionRequest(action=action))
        handle = time_skipping.client.get_workflow_handle_for(
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
