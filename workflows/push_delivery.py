"""Pushes one event to each device that asked for it; each send retried with backoff on its own.

One workflow per event (its id derives from the event's), so publishing the event twice never
pushes it twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.push_delivery import PushActivities
    from domain.push import PushJob, PushRequest

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=8,
)


@workflow.defn(name="PushDelivery")
class PushDeliveryWorkflow:
    @workflow.run
    async def run(self, job: PushJob) -> dict[str, str]:
        async def one(device_id: str) -> str:
            try:
                return str(
                    await workflow.execute_activity_method(
                        PushActivities.send_push,
                        PushRequest(tenant=job.tenant, device_id=device_id, event=job.event),
                        start_to_close_timeout=timedelta(seconds=30),
                        retry_policy=RETRY,
                    )
                )
            except Exception as e:  # one device failing must not stop the others
                return f"failed: {e}"

        outcomes = await asyncio.gather(*(one(d) for d in job.device_ids))
        return dict(zip(job.device_ids, outcomes, strict=True))
