"""Starting, acting on and reading fulfillment sessions: the Temporal calls behind the session routes,
and the ones order activities make to drive a fulfillment's session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from clients.code import code_processes
from clients.temporal import WorkflowNotFound, call
from domain import outbound
from domain.changes import AppliedChange
from domain.errors import Conflict, Unavailable
from domain.ids import session_workflow_id
from domain.partners import PartnerEvent
from domain.process import ProcessDefinition
from domain.session import ActionRequest, SessionStart, SessionView, session_view
from workflows import search_attributes as sa
from workflows.outbound import OutboundWorkflow
from workflows.session import SessionWorkflow


class SessionClient:
    """`timeout`: how long a call waits for a worker before `Unavailable`; None waits (in activities,
    whose own timeout bounds the wait)."""

    def __init__(self, client: Client, task_queue: str, timeout: float | None) -> None:
        self._client, self._queue, self._timeout = client, task_queue, timeout

    async def set_shipment(
        self, tenant: str, session_id: str, update: outbound.ShipmentUpdate
    ) -> SessionView:
        """Give an outbound its shipment; `Conflict` when its status does not take one."""
        return await self._outbound_update(tenant, session_id, OutboundWorkflow.set_shipment, update)

    async def resend_pgi(self, tenant: str, session_id: str, actor: str) -> SessionView:
        """Send an outbound's PGI to the WMS again; `Conflict` unless the WMS refused it."""
        return await self._outbound_update(tenant, session_id, OutboundWorkflow.resend_pgi, actor)

    async def _outbound_update(
        self,
        tenant: str,
        session_id: str,
        update: workflow.UpdateMethodMultiParam[[OutboundWorkflow, Any], SessionView],
        arg: Any,
    ) -> SessionView:
        handle = self._outbound(tenant, session_id)
        try:
            return await call(handle.execute_update(update, arg), self._timeout)
        except WorkflowNotFound:
            raise _not_found(session_id) from None

    def _outbound(self, tenant: str, session_id: str) -> WorkflowHandle[OutboundWorkflow, SessionView]:
        return self._client.get_workflow_handle_for(
            OutboundWorkflow.run, session_workflow_id(tenant, session_id)
        )

    def _handle(self, tenant: str, session_id: str) -> WorkflowHandle[SessionWorkflow, SessionView]:
        return self._client.get_workflow_handle_for(
            SessionWorkflow.run, session_workflow_id(tenant, session_id)
        )

    async def start(self, start: SessionStart) -> SessionView:
        """Start the session's workflow (or find it, for a retried start) and return it as created.

        It answers once Temporal has the start, without waiting for the worker: the workflow records
        the creation (read model, revision trail, `session.created`) in its first task, and reads of
        the session itself query the workflow. A retried start of a running session answers its
        current view; of one that has closed, `Conflict`.
        """
        created = start.created_at or datetime.now(UTC)
        start = start.model_copy(
            update={"created_at": created, "status_set_at_start": True, "holds_stock": True}
        )
        d = start.definition
        attributes = [
            SearchAttributePair(sa.TENANT, start.tenant),
            SearchAttributePair(sa.PROCESS_TYPE, d.type),
            SearchAttributePair(sa.CART_ID, start.cart_id),
            SearchAttributePair(sa.STATUS, d.initial_state),
        ]
        if start.reference:
            attributes.append(SearchAttributePair(sa.REFERENCE, start.reference))
        try:
            await call(
                self._client.start_workflow(
                    _workflow(d).run,
                    start,
                    id=session_workflow_id(start.tenant, start.session_id),
                    task_queue=self._queue,
                    # A retry finds the running session (below); one that ran and closed is never
                    # started again under its id.
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=TypedSearchAttributes(attributes),
                    static_summary=(
                        f"outbound {start.reference}"
                        if d.type == outbound.PROCESS_TYPE
                        else f"{d.type} v{d.version} session for cart {start.cart_id}"
                    ),
                    static_details=f"tenant {start.tenant}, reference {start.reference or '-'}",
                ),
                self._timeout,
            )
        except WorkflowAlreadyStartedError:
            handle = self._handle(start.tenant, start.session_id)
            running = await call(handle.describe(), self._timeout)
            if running.status != WorkflowExecutionStatus.RUNNING:
                raise Conflict.one(
                    "SESSION_CLOSED", f"session {start.session_id!r} has closed", "id"
                ) from None
            return await call(handle.query(SessionWorkflow.view), self._timeout)
        return session_view(start, d.initial_state, 0, created, created)

    async def act(
        self, tenant: str, session_id: str, request: ActionRequest, update_id: str | None = None
    ) -> SessionView:
        """Apply an action; the same `update_id` twice applies it once. A `Conflict` when the state
        refuses it; `WorkflowNotFound` for an unknown or finished session."""
        try:
            return await call(
                self._handle(tenant, session_id).execute_update(SessionWorkflow.act, request, id=update_id),
                self._timeout,
            )
        except WorkflowNotFound:
            raise _not_found(session_id) from None

    async def apply_change(self, tenant: str, session_id: str, change: AppliedChange) -> SessionView:
        """An accepted change proposal's Update, once per change (its id is the Update's)."""
        try:
            return await call(
                self._handle(tenant, session_id).execute_update(
                    SessionWorkflow.apply_change, change, id=f"change:{change.change_id}"
                ),
                self._timeout,
            )
        except WorkflowNotFound:
            raise Conflict.one("SESSION_ENDED", f"session {session_id!r} has closed", "sessionId") from None

    async def partner_event(self, tenant: str, session_id: str, event: PartnerEvent) -> None:
        """Hand a partner's event to its session (which applies each event id once); a finished or
        unknown session is `WorkflowNotFound`."""
        await call(
            self._handle(tenant, session_id).signal(SessionWorkflow.partner_event, event), self._timeout
        )

    async def view(self, tenant: str, session_id: str) -> SessionView:
        try:
            return await call(self._handle(tenant, session_id).query(SessionWorkflow.view), self._timeout)
        except WorkflowNotFound:
            raise _not_found(session_id) from None


def _workflow(definition: ProcessDefinition) -> type[SessionWorkflow]:
    """The workflow a session of `definition` runs: the interpreter, or a process written in Python."""
    if definition.type == outbound.PROCESS_TYPE and definition.kind == "code":
        return OutboundWorkflow
    if definition.kind == "code":
        process = code_processes().get(definition.type)
        if process is None:
            raise Unavailable.one(
                "CODE_PROCESS_MISSING",
                f"no installed package provides the process {definition.type!r}",
                "processType",
            )
        return process.workflow
    return SessionWorkflow


def _not_found(session_id: str) -> WorkflowNotFound:
    return WorkflowNotFound.one("SESSION_NOT_FOUND", f"no session {session_id!r}", "id")
