"""The options hold alone on the time-skipping server: it expires the selection after its time."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from activities.orders import OrderActivities
from domain.orders import OptionsHold
from tests.workflows.support import keep, stand_in, worker
from workflows.options_hold import OptionsHoldWorkflow


async def test_the_hold_expires_the_selection_once_its_time_is_up(time_skipping: WorkflowEnvironment) -> None:
    expired: list[tuple[OptionsHold, timedelta]] = []
    began = await time_skipping.get_current_time()

    @stand_in(OrderActivities.expire_options_hold)
    async def expire(hold: OptionsHold) -> bool:
        expired.append((hold, await time_skipping.get_current_time() - began))
        return True

    hold = OptionsHold(tenant="wf", options_id="opt-1", plan_id="plan-1", seconds=900)
    async with worker(time_skipping, [OptionsHoldWorkflow], [expire]) as queue:
        handle = await time_skipping.client.start_workflow(
            OptionsHoldWorkflow.run, hold, id="hold-wf-1", task_queue=queue
        )
        assert await handle.result() is True
        await keep(handle, "options_hold")
    ((seen, after),) = expired
    assert seen == hold and after >= timedelta(seconds=900)
