"""A selected plan's stock, held for a while: the durable timer that releases it if nobody confirms.

Started when fulfilment options are SELECTED (one per options id); confirming or cancelling releases
the hold at once, and the timer then finds nothing to do.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.orders import OrderActivities
    from domain.orders import OptionsHold


@workflow.defn(name="OptionsHold")
class OptionsHoldWorkflow:
    @workflow.run
    async def run(self, hold: OptionsHold) -> bool:
        """True when the hold expired here (the options were still only selected)."""
        await workflow.sleep(timedelta(seconds=hold.seconds))
        return await workflow.execute_activity_method(
            OrderActivities.expire_options_hold, hold, start_to_close_timeout=timedelta(seconds=60)
        )
