"""The processes written in Python that installed packages expose (`fulfillment.processes`).

Loaded once per process, by the API (to list them, validate actions and start them) and by the
worker (to register their workflows and activities). A broken entry point stops the process at
start with its name: a deployment that silently lacks a process would fail sessions later instead.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from domain.builtins import BUILTINS
from domain.errors import InvalidDefinition
from domain.process import ProcessDefinition, validate_definition
from workflows.code import CodeProcess
from workflows.session import SessionWorkflow

GROUP = "fulfillment.processes"


class BadCodeProcess(RuntimeError):
    """An entry point that does not name a usable `CodeProcess`."""


@cache
def code_processes() -> dict[str, CodeProcess]:
    """Every installed code process by type."""
    found: dict[str, CodeProcess] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        where = f"entry point {entry.name!r} ({entry.value}) of {GROUP}"
        try:
            process = entry.load()
        except Exception as e:  # a package that fails to import: name it
            raise BadCodeProcess(f"{where} failed to load: {e}") from e
        found_one = check(process, where)
        if found_one.definition.type in found or found_one.definition.type in BUILTINS:
            raise BadCodeProcess(f"{where}: process type {found_one.definition.type!r} is taken")
        found[found_one.definition.type] = found_one
    return found


def check(process: object, where: str) -> CodeProcess:
    """The entry point's `CodeProcess`, its definition validated and marked `code`."""
    if not isinstance(process, CodeProcess):
        raise BadCodeProcess(f"{where} names {type(process).__name__}, not a CodeProcess")
    if not (isinstance(process.workflow, type) and issubclass(process.workflow, SessionWorkflow)):
        raise BadCodeProcess(f"{where}: its workflow must subclass SessionWorkflow")
    if "__temporal_workflow_definition" not in vars(process.workflow):  # its own, not the base's
        raise BadCodeProcess(f"{where}: its workflow class has no @workflow.defn of its own")
    try:
        definition = validate_definition(process.definition.model_copy(update={"kind": "code", "version": 1}))
    except InvalidDefinition as e:
        raise BadCodeProcess(f"{where}: {e.detail}") from e
    return CodeProcess(process.workflow, definition, tuple(process.activities))


def code_definitions() -> dict[str, ProcessDefinition]:
    """The installed code processes' definitions, by type (what the process routes show)."""
    return {type_: process.definition for type_, process in code_processes().items()}
