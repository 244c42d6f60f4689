"""Every built-in workflow replays the histories recorded from it and from earlier releases.

A change to a workflow that alters its command sequence would break every session, order and
delivery running when it is deployed; here it fails CI instead. To change a workflow on purpose,
version it (`workflow.patched`) or give it a new type, then record the current histories again
(`make histories`); a release copies tests/histories/current/ to tests/histories/release-<version>/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.session import SessionStart, SessionView
from tests.workflows.support import HISTORIES
from workers.worker import ALL_WORKFLOWS
from workflows.session import SessionWorkflow

RECORDED = sorted(HISTORIES.glob("*/*.json"))


def history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def workflow_type(h: WorkflowHistory) -> str:
    return h.events[0].workflow_execution_started_event_attributes.workflow_type.name


@pytest.mark.parametrize("path", RECORDED, ids=[f"{p.parent.name}/{p.stem}" for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=list(ALL_WORKFLOWS), data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history(path))


def test_every_workflow_type_the_worker_runs_has_a_recorded_history() -> None:
    names = {workflow._Definition.must_from_class(w).name for w in ALL_WORKFLOWS}
    assert names == {workflow_type(history(p)) for p in RECORDED if p.parent.name == "current"}


@workflow.defn(name="FulfillmentSession", sandboxed=False)  # defined in a test module
class SessionWithAnExtraTimer(SessionWorkflow):
    """A careless edit: a timer before the first recording changes the command sequence."""

    @workflow.run
    async def run(self, start: SessionStart) -> SessionView:
        await workflow.sleep(1)
        return await super().run(start)


async def test_a_changed_command_sequence_fails_replay() -> None:
    replayer = Replayer(workflows=[SessionWithAnExtraTimer], data_converter=pydantic_data_converter)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(history(HISTORIES / "current" / "session_web_order.json"))
