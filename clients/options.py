"""Running a fulfillment options request as the workflow of its flexType and flexVersion."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from clients.temporal import call
from domain.ids import options_workflow_id
from domain.sourcing.jobs import OptionsAnswer, OptionsJob
from domain.sourcing.options import FLEX_TYPE, FLEX_VERSION
from workflows.fulfillment_options import BY_FLEX


class OptionsClient:
    def __init__(self, client: Client, task_queue: str, timeout: float) -> None:
        self._client, self._queue, self._timeout = client, task_queue, timeout

    async def compute(self, job: OptionsJob) -> OptionsAnswer:
        """The options; the request's domain error when it cannot be sourced, `Unavailable` otherwise."""
        workflow = BY_FLEX[(FLEX_TYPE, FLEX_VERSION)]
        return await call(
            self._client.execute_workflow(
                workflow.run,
                job,
                id=options_workflow_id(job.tenant, job.options_id),
                task_queue=self._queue,
                static_summary=f"{job.request.order_type} options for {len(job.request.items)} line(s)",
                execution_timeout=timedelta(seconds=self._timeout),
            ),
            self._timeout,
            "the sourcing worker",
        )
