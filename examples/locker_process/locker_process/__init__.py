"""Pickup from a parcel locker, written in Python: a worked example of a code process.

On entering `ASSIGNING`, an activity picks a compartment for the parcel (here from the locker's
size and the cart id; a real one would ask the locker's controller), the compartment goes into the
session's context, and the process moves itself to `READY`. Customers have 48 hours to collect
(a timer step, as in any definition); staff can cancel until it is collected.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from domain.process import ProcessDefinition
    from domain.session import SessionStart, SessionView
    from workflows.code import CodeProcess, SessionWorkflow

COMPARTMENTS = 24


@activity.defn(name="locker_assign_compartment")
async def assign_compartment(cart_id: str) -> int:
    """A compartment for the parcel: stable for a cart, so a retried activity picks the same one."""
    return int(hashlib.sha256(cart_id.encode()).hexdigest(), 16) % COMPARTMENTS + 1


@workflow.defn(name="LockerPickup")
class LockerWorkflow(SessionWorkflow):
    # Temporal wants both on the class it registers; the base does the work.
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: SessionStart) -> SessionView:
        return await super().run(start)

    async def on_enter(self, status: str) -> None:
        if status == "ASSIGNING":
            cart_id = self.view().cart_id
            compartment = await workflow.execute_activity(
                assign_compartment, cart_id, start_to_close_timeout=timedelta(seconds=30)
            )
            self.context["compartment"] = compartment
            await self.apply("assign", {"compartment": compartment})


DEFINITION = ProcessDefinition.model_validate(
    {
        "type": "LOCKER_PICKUP",
        "kind": "code",
        "description": "Pickup from a parcel locker: a compartment is assigned, then collected within 48 h.",
        "states": [
            {"name": "ASSIGNING", "description": "Picking a compartment"},
            {
                "name": "READY",
                "description": "In its compartment, waiting for the customer",
                "steps": [{"kind": "timer", "afterSeconds": 48 * 3600, "action": "expire"}],
            },
            {"name": "COLLECTED"},
            {"name": "EXPIRED"},
            {"name": "CANCELLED"},
        ],
        "initialState": "ASSIGNING",
        "terminalStates": ["COLLECTED", "EXPIRED", "CANCELLED"],
        "transitions": [
            {"from": "ASSIGNING", "action": "assign", "to": "READY", "system": True},  # the code's own
            {"from": "ASSIGNING", "action": "cancel", "to": "CANCELLED"},
            {"from": "READY", "action": "collect", "to": "COLLECTED"},
            {"from": "READY", "action": "expire", "to": "EXPIRED", "system": True},  # the timer's
            {"from": "READY", "action": "cancel", "to": "CANCELLED"},
        ],
    }
)

PROCESS = CodeProcess(workflow=LockerWorkflow, definition=DEFINITION, activities=[assign_compartment])
