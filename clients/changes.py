"""Proposing changes to a session and deciding them: the Temporal calls behind the cart routes."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from clients.temporal import call
from domain.changes import ChangeStart, ChangeView, Decision
from domain.errors import Conflict, NotFound
from domain.ids import change_workflow_id
from workflows import search_attributes as sa
from workflows.change import ChangeProposalWorkflow


class ChangeClient:
    def __init__(self, client: Client, task_queue: str, timeout: float | None) -> None:
        self._client, self._queue, self._timeout = client, task_queue, timeout

    async def propose(self, start: ChangeStart) -> None:
        """Start the proposal's workflow; `Conflict` (CHANGE_PENDING) while another proposal of the
        session is open: one workflow id per session, which Temporal runs once at a time."""
        v = start.view
        try:
            await call(
                self._client.start_workflow(
                    ChangeProposalWorkflow.run,
                    start,
                    id=change_workflow_id(start.tenant, v.session_id),
                    task_queue=self._queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(sa.TENANT, start.tenant),
                            SearchAttributePair(sa.CART_ID, v.cart_id),
                            SearchAttributePair(sa.REFERENCE, v.session_id),
                        ]
                    ),
                    static_summary=f"change {v.id} of session {v.session_id}",
                    static_details=f"tenant {start.tenant}, proposed by {v.proposed_by}: {v.reason[:200]}",
                ),
                self._timeout,
            )
        except WorkflowAlreadyStartedError:
            # Named, so a client whose proposal timed out after it started finds it.
            pending = await call(
                self._handle(start.tenant, v.session_id).query(ChangeProposalWorkflow.view), self._timeout
            )
            raise Conflict.one(
                "CHANGE_PENDING",
                f"session {v.session_id!r} has an open change proposal, {pending.id}: decide it first",
                "sessionId",
                changeId=pending.id,
            ) from None

    async def decide(self, tenant: str, session_id: str, decision: Decision) -> ChangeView:
        """Accept or reject the session's open proposal; it answers once the outcome is recorded."""
        try:
            return await call(
                self._handle(tenant, session_id).execute_update(ChangeProposalWorkflow.decide, decision),
                self._timeout,
            )
        except NotFound:  # its run has ended (and maybe the session's next proposal is open)
            raise Conflict.one(
                "CHANGE_DECIDED", f"change {decision.change_id!r} is no longer open", "changeId"
            ) from None

    def _handle(self, tenant: str, session_id: str) -> WorkflowHandle[ChangeProposalWorkflow, ChangeView]:
        return self._client.get_workflow_handle_for(
            ChangeProposalWorkflow.run, change_workflow_id(tenant, session_id)
        )
