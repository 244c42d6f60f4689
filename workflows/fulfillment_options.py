"""Computes one fulfillment options request: the workflow type is its flexType at its flexVersion.

A new flexVersion is a new workflow class (and type name), so requests in flight keep the logic
they started with; `BY_FLEX` is where the client picks the class for a request.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.sourcing import SourcingActivities
    from domain.errors import FAILURE_TYPE
    from domain.sourcing.jobs import WORKFLOW_TYPES, OptionsAnswer, OptionsJob
    from domain.sourcing.options import FLEX_TYPE, FLEX_VERSION


@workflow.defn(name=WORKFLOW_TYPES[(FLEX_TYPE, FLEX_VERSION)])
class FulfillmentOptionsWorkflow:
    @workflow.run
    async def run(self, job: OptionsJob) -> OptionsAnswer:
        # Bad input (an unknown pickup location, no coordinates) fails at once; it is not retried.
        return await workflow.execute_local_activity_method(
            SourcingActivities.compute_fulfillment_options,
            job,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=[FAILURE_TYPE]),
        )


BY_FLEX = {(FLEX_TYPE, FLEX_VERSION): FulfillmentOptionsWorkflow}
