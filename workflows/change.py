"""One change proposal on a pickup session, from its proposal to its end.

It waits for the decision on a durable timer (EXPIRED when none comes). Accepting reserves the new
stock as the change's own, then Updates the session (context, revision trail, reservations adopted
in one transaction); when the Update fails the reservation is released, so the session keeps what
it held, and the proposal ends FAILED with the reason. Its workflow id is the session's, so a
session has one open proposal at a time.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.changes import ChangeActivities, ChangeStock
    from domain.changes import (
        ACCEPTED,
        EXPIRED,
        FAILED,
        PROPOSED,
        REJECTED,
        AppliedChange,
        ChangeRecord,
        ChangeStart,
        ChangeView,
        Decision,
    )
    from domain.errors import Conflict, NotFound, from_failure, to_failure

BOOKKEEPING = timedelta(seconds=30)
SESSION_CALL = timedelta(seconds=60)


@workflow.defn(name="ChangeProposal")
class ChangeProposalWorkflow:
    @workflow.init
    def __init__(self, start: ChangeStart) -> None:
        self._start = start
        self._view = start.view
        self._decision: Decision | None = None
        self._recorded_end = False  # the end's row and event are written: a decider reads it back

    @workflow.run
    async def run(self, start: ChangeStart) -> ChangeView:
        await self._record(1)
        remaining = (self._view.expires_at - workflow.now()).total_seconds()
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=max(remaining, 0.001))
        except TimeoutError:
            self._end(EXPIRED, None)
        else:
            decision = self._decision
            assert decision is not None
            if decision.accept:
                await self._accept(decision)
            else:
                self._end(REJECTED, decision)
        await self._record(2)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    @workflow.update
    async def decide(self, decision: Decision) -> ChangeView:
        """Accept or reject; answers the proposal as it ended (ACCEPTED, FAILED or REJECTED)."""
        self._decision = decision
        await workflow.wait_condition(lambda: self._recorded_end)
        return self._view

    @decide.validator
    def _check(self, decision: Decision) -> None:
        if decision.change_id != self._view.id:
            raise to_failure(
                NotFound.one("CHANGE_NOT_FOUND", f"no open change {decision.change_id!r}", "changeId")
            )
        if self._decision is not None or self._view.status != PROPOSED:
            raise to_failure(
                Conflict.one("CHANGE_DECIDED", f"the change is {self._view.status} already", "changeId")
            )

    @workflow.query
    def view(self) -> ChangeView:
        return self._view

    async def _accept(self, decision: Decision) -> None:
        v = self._view
        stock = ChangeStock(
            tenant=self._start.tenant,
            session_id=v.session_id,
            change_id=v.id,
            targets=v.preview.reservations.reserve if v.preview.reservations else [],
        )
        moving = v.preview.reservations is not None
        if moving:
            try:
                await workflow.execute_activity_method(
                    ChangeActivities.reserve_for_change, stock, start_to_close_timeout=BOOKKEEPING
                )
            except ActivityError as e:
                self._fail(e, decision)
                return
        change = AppliedChange(
            change_id=v.id,
            changes=v.changes,
            reason=v.reason,
            actor=decision.actor,
            comment=decision.comment,
            holds=stock.targets if moving else None,
        )
        try:
            await workflow.execute_activity_method(
                ChangeActivities.apply_change_to_session,
                args=[stock, change],
                start_to_close_timeout=SESSION_CALL,
                # Until the session answers: the Update's id is the change's, so a retry never applies
                # it twice, and giving up on one that did apply would report a change made as FAILED.
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
        except ActivityError as e:
            if moving:  # compensate: the session keeps what it held
                await workflow.execute_activity_method(
                    ChangeActivities.release_change, stock, start_to_close_timeout=BOOKKEEPING
                )
            self._fail(e, decision)
            return
        self._end(ACCEPTED, decision)

    def _fail(self, error: ActivityError, decision: Decision) -> None:
        refused = from_failure(error)
        if refused is not None and refused.errors:
            code, reason = refused.errors[0].code, refused.errors[0].message
        else:
            code, reason = "CHANGE_FAILED", str(error.cause or error)
        self._end(FAILED, decision, code, reason)

    def _end(
        self, status: str, decision: Decision | None, code: str | None = None, reason: str | None = None
    ) -> None:
        self._view = self._view.model_copy(
            update={
                "status": status,
                "decided_at": workflow.now(),
                "decided_by": decision.actor if decision else None,
                "comment": decision.comment if decision else None,
                "failure": reason,
                "failure_code": code,
            }
        )

    async def _record(self, sequence: int) -> None:
        await workflow.execute_activity_method(
            ChangeActivities.record_change,
            ChangeRecord(tenant=self._start.tenant, view=self._view, sequence=sequence),
            start_to_close_timeout=BOOKKEEPING,
        )
        if sequence == 2:
            self._recorded_end = True
