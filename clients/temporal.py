"""Connecting to Temporal, and the one place its client-side errors become domain errors.

Every Temporal call made from outside a workflow goes through `call`: a domain error a workflow
refused with comes back as that error, a workflow that does not exist as `WorkflowNotFound`, and a
call that nothing answers in time (no worker, an overloaded or unreachable server, a failed run) as
`Unavailable` (503), instead of a request that hangs or fails with a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import NotFound, Unavailable, from_failure
from workflows.search_attributes import ALL

T = TypeVar("T")
# An idle worker long-polls for about a minute, then polls again: older than this means gone.
POLLER_FRESH = timedelta(seconds=90)
_BUSY = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED)


async def connect(address: str, namespace: str) -> Client:
    """One way to connect: the pydantic data converter, so domain models travel as JSON."""
    return await Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter)


class WorkflowNotFound(NotFound):
    """No such workflow, or one that has finished (Temporal answers both alike)."""


def _unavailable(code: str, message: str) -> Unavailable:
    return Unavailable.one(code, f"{message}; the request may be retried")


async def call(operation: Awaitable[T], wait: float | None, what: str = "a worker") -> T:
    """Await a Temporal call for at most `wait` seconds (None: no bound), turning what it raises into
    domain errors (see the module docstring)."""
    try:
        return await asyncio.wait_for(operation, wait)
    except (TimeoutError, RPCTimeoutOrCancelledError):  # an Update cut off by the bound is the latter
        raise _unavailable("NO_WORKER", f"{what} did not answer in time") from None
    except (WorkflowUpdateFailedError, WorkflowFailureError) as e:
        refused = from_failure(e.cause)
        if refused is None:  # the workflow failed for a reason of its own, not the request's
            raise _unavailable("WORKFLOW_FAILED", "the workflow could not complete the request") from e
        raise refused from None
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as e:
        raise _unavailable("QUERY_FAILED", "the workflow could not answer") from e
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowNotFound.one("WORKFLOW_NOT_FOUND", e.message) from None
        if e.status in _BUSY:
            raise _unavailable("TEMPORAL_UNAVAILABLE", "Temporal did not answer") from None
        if e.status == RPCStatusCode.FAILED_PRECONDITION:  # e.g. WorkflowNotReady: its last task failed
            raise _unavailable("WORKFLOW_NOT_READY", "the workflow cannot take requests now") from e
        raise


async def ensure_search_attributes(client: Client) -> None:
    """Register the custom search attributes the workflows set, where the server lacks them."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as e:
        if e.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list them
            raise
        existing = set()
    missing = {k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in ALL if k.name not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as e:
            if e.status != RPCStatusCode.ALREADY_EXISTS:
                raise


async def live_pollers(client: Client, task_queue: str) -> list[str]:
    """Identities of the workers that polled the queue lately (empty: no worker runs it)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=timedelta(seconds=5),
    )
    now = datetime.now(UTC)
    return [
        p.identity for p in response.pollers if now - p.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESH
    ]
