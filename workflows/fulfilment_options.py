"""Computes one fulfilment options request: the workflow type is its flexType at its flexVersion."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.sourcing.jobs import WORKFLOW_TYPES, OptionsAnswer, OptionsJob
    from domain.sourcing.options import FLEX_TYPE, FLEX_VERSION


@workflow.defn(name=WORKFLOW_TYPES[(FLEX_TYPE, FLEX_VERSION)])
class FulfilmentOptionsWorkflow:
    @workflow.run
    async def run(self, job: OptionsJob) -> OptionsAnswer:
        # Bad input (an unknown pickup location, no coordinates) fails at once; it is not retried.
        return await workflow.execute_local_activity(
            "compute_fulfilment_options",
            job,
            result_type=OptionsAnswer,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["DomainError"]),
        )
