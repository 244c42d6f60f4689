"""The Temporal calls behind the session routes, in one place (the benchmark's baseline uses them too)."""

from __future__ import annotations

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from domain.ids import session_workflow_id
from domain.session import ActionRequest, SessionStart, SessionView
from workflows import search_attributes as sa
from workflows.session import SessionWorkflow


def handle(client: Client, tenant: str, session_id: str) -> WorkflowHandle[SessionWorkflow, SessionView]:
    return client.get_workflow_handle_for(SessionWorkflow.run, session_workflow_id(tenant, session_id))


async def start(client: Client, task_queue: str, start: SessionStart) -> SessionView:
    """Start the session's workflow (or find it, for a retried start) and return it once recorded."""
    d = start.definition
    attributes = [
        SearchAttributePair(sa.TENANT, start.tenant),
        SearchAttributePair(sa.PROCESS_TYPE, d.type),
        SearchAttributePair(sa.CART_ID, start.cart_id),
        SearchAttributePair(sa.STATUS, d.initial_state),
    ]
    if start.reference:
        attributes.append(SearchAttributePair(sa.REFERENCE, start.reference))
    operation = WithStartWorkflowOperation(
        SessionWorkflow.run,
        start,
        id=session_workflow_id(start.tenant, start.session_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=f"{d.type} v{d.version} session for cart {start.cart_id}",
        static_details=f"tenant {start.tenant}, reference {start.reference or '-'}",
    )
    view: SessionView = await client.execute_update_with_start_workflow(
        "view_when_recorded", start_workflow_operation=operation, result_type=SessionView
    )
    return view


async def act(
    client: Client, tenant: str, session_id: str, request: ActionRequest, update_id: str | None = None
) -> SessionView:
    """Apply an action; the same `update_id` twice applies it once."""
    result: SessionView = await handle(client, tenant, session_id).execute_update(
        "act", request, id=update_id, result_type=SessionView
    )
    return result


async def view(client: Client, tenant: str, session_id: str) -> SessionView:
    return await handle(client, tenant, session_id).query(SessionWorkflow.view)
