"""Built-in processes, present for every tenant at version 1.

A tenant registering a definition of the same type gets version 2 and up: built-ins are the
first version of their type, not a separate namespace.
"""

from __future__ import annotations

from domain.process import ProcessDefinition, StateDef, TimerStep, Transition, validate_definition

DAY = 24 * 3600


def _process(
    type_: str,
    description: str,
    flow: str,
    terminal: list[str],
    timers: dict[str, TimerStep] | None = None,
    prepared: list[str] | None = None,
    collected: list[str] | None = None,
) -> ProcessDefinition:
    """Build a definition from lines of `FROM action TO`; states appear in order of first mention.
    `prepared`: a pickup process's states in which the order is ready (None: no pickup); `collected`:
    its terminal states in which the customer has the goods."""
    transitions: list[Transition] = []
    order: list[str] = []
    for line in flow.strip().splitlines():
        src, action, dst = line.split()
        transitions.append(Transition.model_validate({"from": src, "action": action, "to": dst}))
        order += [s for s in (src, dst) if s not in order]
    timers = timers or {}
    states = [StateDef(name=s, steps=[timers[s]] if s in timers else []) for s in order]
    return validate_definition(
        ProcessDefinition(
            type=type_,
            version=1,
            description=description,
            pickup=prepared is not None,
            prepared_states=prepared or [],
            collected_states=collected or [],
            states=states,
            initial_state=order[0],
            terminal_states=terminal,
            transitions=transitions,
        )
    )


WEB_ORDER = _process(
    "WEB_ORDER",
    "Web shop order: confirm, pick, pack, ship, deliver; returns and refunds within 14 days.",
    """
    CREATED confirm CONFIRMED
    CREATED reject REJECTED
    CREATED cancel CANCELLED
    CONFIRMED pick PICKED
    CONFIRMED cancel CANCELLED
    PICKED pack PACKED
    PICKED cancel CANCELLED
    PACKED ship SHIPPED
    PACKED cancel CANCELLED
    SHIPPED deliver DELIVERED
    DELIVERED finish FINISHED
    DELIVERED request_return RETURN_REQUESTED
    RETURN_REQUESTED receive_return RETURNED
    RETURN_REQUESTED reject FINISHED
    RETURNED refund REFUNDED
    """,
    terminal=["FINISHED", "REJECTED", "CANCELLED", "REFUNDED"],
    timers={"DELIVERED": TimerStep(after_seconds=14 * DAY, action="finish")},
)

CLICK_AND_COLLECT = _process(
    "CLICK_AND_COLLECT",
    "Reserve online, collect in store; an order not collected within 3 days expires.",
    """
    CREATED confirm CONFIRMED
    CREATED reject REJECTED
    CREATED cancel CANCELLED
    CONFIRMED pick PICKED
    CONFIRMED cancel CANCELLED
    PICKED mark_ready READY_FOR_PICKUP
    PICKED cancel CANCELLED
    READY_FOR_PICKUP finish COLLECTED
    READY_FOR_PICKUP cancel CANCELLED
    READY_FOR_PICKUP expire NOT_COLLECTED
    """,
    terminal=["COLLECTED", "REJECTED", "CANCELLED", "NOT_COLLECTED"],
    timers={"READY_FOR_PICKUP": TimerStep(after_seconds=3 * DAY, action="expire")},
    prepared=["READY_FOR_PICKUP"],
    collected=["COLLECTED"],
)

DIGITAL = _process(
    "DIGITAL",
    "Digital goods (tickets, downloads): issue after confirmation, revocable until finished.",
    """
    CREATED confirm CONFIRMED
    CREATED reject REJECTED
    CREATED cancel CANCELLED
    CONFIRMED issue ISSUED
    CONFIRMED cancel CANCELLED
    ISSUED finish FINISHED
    ISSUED revoke REVOKED
    """,
    terminal=["FINISHED", "REJECTED", "CANCELLED", "REVOKED"],
)

FOOD_PREPARATION = _process(
    "FOOD_PREPARATION",
    "Kitchen order: accepted, prepared, ready, served.",
    """
    CREATED confirm CONFIRMED
    CREATED reject REJECTED
    CREATED cancel CANCELLED
    CONFIRMED start_preparation IN_PREPARATION
    CONFIRMED cancel CANCELLED
    IN_PREPARATION mark_ready READY
    READY finish SERVED
    """,
    terminal=["SERVED", "REJECTED", "CANCELLED"],
)

BUILTINS: dict[str, ProcessDefinition] = {
    p.type: p for p in (WEB_ORDER, CLICK_AND_COLLECT, DIGITAL, FOOD_PREPARATION)
}
