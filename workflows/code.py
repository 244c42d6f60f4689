"""Processes written in Python: a Temporal workflow a package ships, driven through the session API.

A process definition (data) covers most needs; a developer who needs code writes a workflow that
subclasses `SessionWorkflow` and exposes it in the entry-point group `fulfillment.processes`:

    [project.entry-points."fulfillment.processes"]
    locker = "locker_process:PROCESS"

where `PROCESS = CodeProcess(workflow=LockerWorkflow, definition=…)`. The definition (kind `code`)
states the states, transitions and terminal states: the API validates actions against it and lists
it at `GET /processes`; the workflow interprets it like any other (timers, calls, awaits, notify)
and adds its own behaviour in `on_enter`, calling its activities and `self.apply(action)`.

Temporal wants `@workflow.init` and `@workflow.run` on the class it registers, so the subclass
declares both and calls the base's (see `examples/locker_process`). Actions are Updates on it
(`act`), reads are its `view` query, and every change is recorded like any session's. Workflow code
must be deterministic: leave the SDK's sandbox on (the default) unless you keep its rules yourself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.process import ProcessDefinition

from workflows.session import SessionWorkflow

__all__ = ["CodeProcess", "SessionWorkflow"]


@dataclass(frozen=True)
class CodeProcess:
    """What a `fulfillment.processes` entry point names."""

    workflow: type[SessionWorkflow]  # a @workflow.defn subclass of SessionWorkflow
    definition: ProcessDefinition  # its states and actions, with `kind: code`
    activities: Sequence[Callable[..., Any]] = field(default_factory=tuple)  # registered with the worker
