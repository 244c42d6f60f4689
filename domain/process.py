"""Process definitions: a versioned document of states, transitions and steps, and its validation.

Sessions interpret a definition; they never run code from it, so a tenant can register one
through the API. Validation finds every mistake at once and names the field of each.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from domain.errors import FieldError, InvalidDefinition
from domain.model import CamelModel, not_unicode
from domain.templates import DOT_SEGMENT, placeholders, unknown

STATE_NAME = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
ACTION_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# The revision trail's action for an accepted change proposal: the session's own, no transition's.
CHANGE_ACTION = "accept_change"
RESERVED_ACTIONS = (CHANGE_ACTION,)
TYPE_NAME = STATE_NAME


class TimerStep(CamelModel):
    """On entering the state, wait; if the session is still in it, apply `action` as the system."""

    kind: Literal["timer"] = "timer"
    after_seconds: int = Field(gt=0, le=366 * 24 * 3600)
    action: str


CONNECTOR_NAME = r"^[a-z0-9][a-z0-9_-]*$"
EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
RESULT_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
TEMPLATE = (
    "A JSON value whose strings may hold `{{session.id}}`, `{{session.reference}}`, `{{session.cartId}}`, "
    "`{{session.status}}`, `{{session.context.<key>}}` and `{{data.<key>}}` (the data of the action that "
    "entered the state); a string that is only one placeholder takes the value's JSON type."
)


class CallStep(CamelModel):
    """On entering the state, call a connector (an activity, retried durably); its answer is stored
    under `resultKey` and `onSuccess` applied, or `onFailure` when it refuses or never answers."""

    kind: Literal["call"]
    connector: str = Field(min_length=1, max_length=100, pattern=CONNECTOR_NAME)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"^/[^\s]*$",
        description="Appended to the connector's base URL; may hold placeholders.",
    )
    body: Any = Field(None, description=TEMPLATE)
    result_key: str | None = Field(None, max_length=100, pattern=RESULT_KEY)
    on_success: str | None = None
    on_failure: str | None = None
    max_attempts: int = Field(10, ge=1, le=100)


class AwaitStep(CamelModel):
    """Wait for a partner event of type `event` naming this session; apply `action` (as the partner)
    when it arrives, or `onTimeout` after `timeoutSeconds` in the state. An event that arrived before
    the state was entered is applied on entry."""

    kind: Literal["await"]
    event: str = Field(min_length=3, max_length=100, pattern=EVENT_TYPE)
    action: str
    timeout_seconds: int | None = Field(None, gt=0, le=366 * 24 * 3600)
    on_timeout: str | None = None


class NotifyStep(CamelModel):
    """On entering the state, emit the event `process.<event>` (webhooks, live feed, push) with `payload`."""

    kind: Literal["notify"]
    event: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
    payload: Any = Field(None, description=TEMPLATE)


Step = Annotated[TimerStep | CallStep | AwaitStep | NotifyStep, Field(discriminator="kind")]


class StateDef(CamelModel):
    name: str
    description: str = ""
    steps: list[Step] = Field(default_factory=list)


class Transition(CamelModel):
    from_: str = Field(alias="from")
    action: str
    to: str
    system: bool = Field(
        False,
        description="Only the process applies it (a timer, a call's outcome, an awaited event, a process "
        "written in Python): an API action naming it is refused, and `allowedActions` leaves it out.",
    )


class ProcessDefinition(CamelModel):
    """`version` is assigned by the registry: registering a type again makes its next version."""

    type: str
    version: int | None = None
    kind: Literal["data", "code"] = Field(
        "data",
        description="`data`: registered through this API and interpreted; `code`: a Temporal workflow "
        "from an installed package (the `fulfillment.processes` entry points), listed here to drive it.",
    )
    description: str = ""
    pickup: bool = Field(
        False,
        description="Its sessions end in a customer's pickup at a location (`context.locationRef`): "
        "`calculate_earliest_pickup_time` applies to them, and they queue at that location.",
    )
    prepared_states: list[str] = Field(
        default_factory=list,
        description="A pickup process's states in which the order is prepared: its sessions there no "
        "longer queue at the location.",
    )
    collected_states: list[str] = Field(
        default_factory=list,
        description="A pickup process's terminal states in which the customer has the goods: the stock "
        "its session holds at the location is consumed there, and released in its other terminal states.",
    )
    states: list[StateDef] = Field(min_length=1)
    initial_state: str
    terminal_states: list[str]
    transitions: list[Transition]

    def state(self, name: str) -> StateDef | None:
        return next((s for s in self.states if s.name == name), None)

    def allowed_actions(self, status: str) -> list[str]:
        """Every action out of `status`: what the process itself may apply."""
        return [t.action for t in self.transitions if t.from_ == status]

    def client_actions(self, status: str) -> list[str]:
        """The actions out of `status` an API caller may apply (not the `system` ones)."""
        return [t.action for t in self.transitions if t.from_ == status and not t.system]

    def target(self, status: str, action: str) -> str | None:
        return next((t.to for t in self.transitions if t.from_ == status and t.action == action), None)

    def is_terminal(self, status: str) -> bool:
        return status in self.terminal_states


def path_to(definition: ProcessDefinition, start: str, targets: set[str]) -> list[str] | None:
    """The shortest list of actions from `start` to any of `targets` (None when none is reachable)."""
    queue: deque[tuple[str, list[str]]] = deque([(start, [])])
    seen = {start}
    while queue:
        state, actions = queue.popleft()
        if state in targets:
            return actions
        for t in definition.transitions:
            if t.from_ == state and t.to not in seen and t.action not in ("cancel", "reject"):
                seen.add(t.to)
                queue.append((t.to, [*actions, t.action]))
    return None


def validate_definition(
    body: dict[str, Any] | ProcessDefinition, connectors: set[str] | None = None
) -> ProcessDefinition:
    """Parse and check a definition; raise `InvalidDefinition` listing every problem found.
    `connectors`: the tenant's connector names, which `call` steps must name (None: not checked)."""
    if isinstance(body, ProcessDefinition):
        definition = body
    else:
        try:
            definition = ProcessDefinition.model_validate(body)
        except ValidationError as e:
            raise InvalidDefinition(
                [FieldError("INVALID_FIELD", x["msg"], field_path(_untagged(x["loc"]))) for x in e.errors()]
            ) from None
    bad = not_unicode(definition.model_dump(mode="json", by_alias=True))
    if bad:
        raise InvalidDefinition(
            [FieldError("INVALID_TEXT", "not valid Unicode (a lone surrogate)", field) for field in bad]
        )
    errors = _check(definition, connectors)
    if errors:
        raise InvalidDefinition(errors)
    return definition


def _untagged(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A step's errors without the union's tag pydantic puts after its index (`steps[0].call.path`)."""
    kinds = ("timer", "call", "await", "notify")
    return tuple(
        part
        for i, part in enumerate(loc)
        if not (i >= 2 and loc[i - 2] == "steps" and isinstance(loc[i - 1], int) and part in kinds)
    )


def field_path(loc: tuple[int | str, ...]) -> str:
    """`("transitions", 0, "from")` -> `transitions[0].from`, the way errors name fields."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _actions(step: TimerStep | CallStep | AwaitStep | NotifyStep) -> list[tuple[str, str | None]]:
    """The actions a step may apply, by field name."""
    if isinstance(step, CallStep):
        return [("onSuccess", step.on_success), ("onFailure", step.on_failure)]
    if isinstance(step, AwaitStep):
        return [("action", step.action), ("onTimeout", step.on_timeout)]
    if isinstance(step, TimerStep):
        return [("action", step.action)]
    return []


def _check(d: ProcessDefinition, connectors: set[str] | None) -> list[FieldError]:
    errors: list[FieldError] = []

    def err(code: str, message: str, field: str) -> None:
        errors.append(FieldError(code, message, field))

    if not TYPE_NAME.match(d.type):
        err("INVALID_NAME", f"process type {d.type!r} must be UPPER_SNAKE_CASE", "type")
    names: set[str] = set()
    for i, s in enumerate(d.states):
        if not STATE_NAME.match(s.name):
            err("INVALID_NAME", f"state {s.name!r} must be UPPER_SNAKE_CASE", f"states[{i}].name")
        if s.name in names:
            err("DUPLICATE_STATE", f"state {s.name!r} is defined twice", f"states[{i}].name")
        names.add(s.name)
    if d.initial_state not in names:
        err("UNKNOWN_STATE", f"initial state {d.initial_state!r} is not a defined state", "initialState")
    if not d.terminal_states:
        err("NO_TERMINAL_STATE", "a process needs at least one terminal state", "terminalStates")
    # A pickup process's own lists: prepared states among its states, collected ones among its ends.
    for field, listed, within, code, what in (
        ("preparedStates", d.prepared_states, names, "UNKNOWN_STATE", "a defined state"),
        ("collectedStates", d.collected_states, set(d.terminal_states), "NOT_TERMINAL", "a terminal state"),
    ):
        kind = field.removesuffix("States")
        for i, name in enumerate(listed):
            if name not in within:
                err(code, f"{kind} state {name!r} is not {what}", f"{field}[{i}]")
            elif not d.pickup:
                err(
                    "NOT_A_PICKUP",
                    f"only a pickup process (`pickup: true`) has {kind} states",
                    f"{field}[{i}]",
                )
    for i, name in enumerate(d.terminal_states):
        if name not in names:
            err("UNKNOWN_STATE", f"terminal state {name!r} is not a defined state", f"terminalStates[{i}]")

    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(d.transitions):
        field = f"transitions[{i}]"
        if not ACTION_NAME.match(t.action):
            err("INVALID_NAME", f"action {t.action!r} must be lower_snake_case", f"{field}.action")
        elif t.action in RESERVED_ACTIONS:
            err("RESERVED_ACTION", f"action {t.action!r} is the session's own", f"{field}.action")
        for end, value in (("from", t.from_), ("to", t.to)):
            if value not in names:
                err("UNKNOWN_STATE", f"state {value!r} is not a defined state", f"{field}.{end}")
        if t.from_ in d.terminal_states:
            err(
                "TERMINAL_HAS_TRANSITION",
                f"terminal state {t.from_!r} cannot have transitions",
                f"{field}.from",
            )
        key = (t.from_, t.action)
        if key in seen:
            err(
                "DUPLICATE_ACTION",
                f"action {t.action!r} leaves {t.from_!r} twice (also transitions[{seen[key]}])",
                f"{field}.action",
            )
        seen.setdefault(key, i)

    for i, s in enumerate(d.states):
        calls, timers, awaited = 0, 0, set()
        for j, step in enumerate(s.steps):
            field = f"states[{i}].steps[{j}]"
            if s.name in d.terminal_states and not isinstance(step, NotifyStep):
                err("TERMINAL_STEP", f"a terminal state runs notify steps only, not {step.kind}", field)
            if isinstance(step, TimerStep):
                timers += 1
                if timers > 1:
                    err(
                        "TWO_TIMERS", f"state {s.name!r} has two timers; keep the one that fires first", field
                    )
            for name, action in _actions(step):
                if action is not None and (s.name, action) not in seen:
                    err(
                        "UNKNOWN_ACTION",
                        f"{step.kind} {name} {action!r} is not a transition out of {s.name!r}",
                        f"{field}.{name}",
                    )
            templates = {"path": step.path, "body": step.body} if isinstance(step, CallStep) else {}
            if isinstance(step, NotifyStep):
                templates = {"payload": step.payload}
            for part, template in templates.items():
                for name in placeholders(template):
                    why = unknown(name)
                    if why:
                        err("UNKNOWN_PLACEHOLDER", why, f"{field}.{part}")
            if isinstance(step, CallStep):
                if DOT_SEGMENT.search(step.path.split("?")[0]):
                    err("DOT_SEGMENT", "a path may not hold `.` or `..` segments", f"{field}.path")
                calls += 1
                if calls > 1:
                    err(
                        "RACING_CALLS",
                        f"state {s.name!r} has two call steps; chain them through states",
                        field,
                    )
                if step.on_success is not None and step.on_failure is None:
                    err("MISSING_ON_FAILURE", "a call with onSuccess needs onFailure", f"{field}.onFailure")
                if connectors is not None and step.connector not in connectors:
                    err("UNKNOWN_CONNECTOR", f"no connector named {step.connector!r}", f"{field}.connector")
            if isinstance(step, AwaitStep):
                if step.event in awaited:
                    err("DUPLICATE_AWAIT", f"state {s.name!r} awaits {step.event!r} twice", f"{field}.event")
                awaited.add(step.event)
                if (step.on_timeout is None) != (step.timeout_seconds is None):
                    missing = "onTimeout" if step.on_timeout is None else "timeoutSeconds"
                    err(
                        "INCOMPLETE_TIMEOUT", "timeoutSeconds and onTimeout go together", f"{field}.{missing}"
                    )

    if errors:  # reachability is only meaningful on a well-formed graph
        return errors
    reachable = _closure({d.initial_state}, {(t.from_, t.to) for t in d.transitions})
    finishing = _closure(set(d.terminal_states), {(t.to, t.from_) for t in d.transitions})
    for i, s in enumerate(d.states):
        if s.name not in reachable:
            err(
                "UNREACHABLE_STATE",
                f"state {s.name!r} cannot be reached from {d.initial_state!r}",
                f"states[{i}].name",
            )
        elif s.name not in finishing:
            err("DEAD_END_STATE", f"no terminal state can be reached from {s.name!r}", f"states[{i}].name")
    return errors


def _closure(start: set[str], edges: set[tuple[str, str]]) -> set[str]:
    seen, queue = set(start), deque(start)
    while queue:
        node = queue.popleft()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                queue.append(b)
    return seen
