"""The change proposal alone on the time-skipping server, its activities stood in: it expires on its
durable timer, applies an accepted change, and undoes its reservation when the session refuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.changes import ChangeActivities, ChangeStock
from domain.changes import (
    AppliedChange,
    ChangeRecord,
    ChangeSet,
    ChangeStart,
    ChangeView,
    Decision,
    HeldStock,
    Preview,
    ReservationMove,
)
from domain.errors import Conflict, NotFound, from_failure, to_failure
from domain.session import SessionView
from tests.workflows.support import keep, stand_in, worker
from workflows.change import ChangeProposalWorkflow

NEW = HeldStock(location_ref="B", sku="S", quantity=2)


def proposal(
    now: datetime,
    seconds: int = 3600,
    *,
    change_id: str = "chg_1",
    session_id: str = "ses_1",
    cart_id: str = "cart-1",
    changes: ChangeSet | None = None,
) -> ChangeStart:
    """A proposal made `now`; by default it moves the pickup from A to B (and its stock with it)."""
    moves = changes is None
    view = ChangeView(
        id=change_id,
        cart_id=cart_id,
        session_id=session_id,
        status="PROPOSED",
        changes=changes or ChangeSet(location_ref="B"),
        reason="A is closing early",
        proposed_by="employee",
        proposer="key:k",
        preview=Preview(
            location_ref="B",
            pickup_time=None,
            earliest_pickup_time=now,
            stock="AVAILABLE",
            reservations=ReservationMove(
                release=[HeldStock(location_ref="A", sku="S", quantity=2)], reserve=[NEW]
            )
            if moves
            else None,
        ),
        created_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )
    return ChangeStart(tenant="wf", view=view)


class Partners:
    """The stand-ins, recording what the workflow asked of them."""

    def __init__(self, refuse: bool = False) -> None:
        self.records: list[tuple[int, str]] = []
        self.calls: list[str] = []
        self.refuse = refuse

    def activities(self) -> list[Callable[..., Any]]:
        @stand_in(ChangeActivities.record_change)
        async def record(rec: ChangeRecord) -> None:
            self.records.append((rec.sequence, rec.view.status))

        @stand_in(ChangeActivities.reserve_for_change)
        async def reserve(stock: ChangeStock) -> None:
            self.calls.append(f"reserve {stock.targets[0].location_ref}")

        @stand_in(ChangeActivities.apply_change_to_session)
        async def apply(stock: ChangeStock, change: AppliedChange) -> SessionView:
            self.calls.append(f"apply {change.change_id} by {change.actor}")
            if self.refuse:
                raise to_failure(Conflict.one("SESSION_ENDED", "the session is CANCELLED", "sessionId"))
            now = datetime.now(UTC)
            return SessionView(
                id="ses_1",
                process_type="CLICK_AND_COLLECT",
                process_version=1,
                cart_id="cart-1",
                reference=None,
                status="CONFIRMED",
                allowed_actions=[],
                terminal=False,
                revision=2,
                context={"locationRef": "B"},
                created_at=now,
                updated_at=now,
            )

        @stand_in(ChangeActivities.release_change)
        async def release(stock: ChangeStock) -> int:
            self.calls.append(f"release {stock.change_id}")
            return 2

        return [record, reserve, apply, release]


async def test_an_undecided_proposal_expires_on_its_timer(time_skipping: WorkflowEnvironment) -> None:
    partners = Partners()
    began = await time_skipping.get_current_time()
    async with worker(time_skipping, [ChangeProposalWorkflow], partners.activities()) as queue:
        handle = await time_skipping.client.start_workflow(
            ChangeProposalWorkflow.run, proposal(began, 1800), id="chg-expire", task_queue=queue
        )
        ended = await handle.result()
        await keep(handle, "change_expired")
    assert ended.status == "EXPIRED" and ended.decided_at is not None
    assert ended.decided_at - began >= timedelta(seconds=1800)
    assert partners.records == [(1, "PROPOSED"), (2, "EXPIRED")] and partners.calls == []


async def accepted(env: WorkflowEnvironment, partners: Partners, name: str) -> ChangeView:
    """A proposal started and accepted by a customer: the decision's answer, which is how it ended."""
    async with worker(env, [ChangeProposalWorkflow], partners.activities()) as queue:
        handle = await env.client.start_workflow(
            ChangeProposalWorkflow.run, proposal(await env.get_current_time()), id=name, task_queue=queue
        )
        decided = await handle.execute_update(
            ChangeProposalWorkflow.decide, Decision(change_id="chg_1", accept=True, actor="customer:1")
        )
        assert await handle.result() == decided
        await keep(handle, name.replace("-", "_"))
    return decided


async def test_an_accepted_change_reserves_then_updates_the_session(
    time_skipping: WorkflowEnvironment,
) -> None:
    partners = Partners()
    decided = await accepted(time_skipping, partners, "change-accepted")
    assert decided.status == "ACCEPTED" and decided.failure is None
    assert partners.calls == ["reserve B", "apply chg_1 by customer:1"]
    assert partners.records == [(1, "PROPOSED"), (2, "ACCEPTED")]


async def test_a_refused_change_gives_back_what_it_reserved(time_skipping: WorkflowEnvironment) -> None:
    partners = Partners(refuse=True)
    decided = await accepted(time_skipping, partners, "change-failed")
    assert (decided.status, decided.failure_code) == ("FAILED", "SESSION_ENDED")
    assert decided.failure == "the session is CANCELLED" and decided.decided_by == "customer:1"
    assert partners.calls == ["reserve B", "apply chg_1 by customer:1", "release chg_1"]
    assert partners.records == [(1, "PROPOSED"), (2, "FAILED")]


async def test_a_rejected_change_touches_nothing_and_a_decision_for_another_change_is_refused(
    time_skipping: WorkflowEnvironment,
) -> None:
    partners = Partners()
    now = await time_skipping.get_current_time()
    async with worker(time_skipping, [ChangeProposalWorkflow], partners.activities()) as queue:
        handle = await time_skipping.client.start_workflow(
            ChangeProposalWorkflow.run, proposal(now), id="chg-rejected", task_queue=queue
        )
        with pytest.raises(WorkflowUpdateFailedError) as other:
            await handle.execute_update(
                ChangeProposalWorkflow.decide, Decision(change_id="chg_2", accept=True, actor="customer:1")
            )
        refused = from_failure(other.value.cause)
        assert isinstance(refused, NotFound) and refused.errors[0].code == "CHANGE_NOT_FOUND"
        rejected = await handle.execute_update(
            ChangeProposalWorkflow.decide,
            Decision(change_id="chg_1", accept=False, comment="keep A", actor="customer:1"),
        )
        await keep(handle, "change_rejected")
    assert (rejected.status, rejected.comment) == ("REJECTED", "keep A")
    assert partners.calls == [] and partners.records == [(1, "PROPOSED"), (2, "REJECTED")]
