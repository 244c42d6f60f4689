"""Process definition registry: built-ins are version 1 of their type for every tenant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from domain import outbound
from domain.builtins import BUILTINS
from domain.errors import Conflict, DomainError, FieldError, NotFound
from domain.process import ProcessDefinition, validate_definition
from storage.engine import session_scope
from storage.tables import ProcessDefinitionRow

EMPTY: Mapping[str, ProcessDefinition] = MappingProxyType({})
# Process types the orchestrator's own APIs start, with their own workflows: not a tenant's to register.
RESERVED = {outbound.PROCESS_TYPE: "outbound orders, /v3/fulfillment/outbound"}


def register(
    engine: Engine, tenant: str, definition: ProcessDefinition, code: Mapping[str, ProcessDefinition] = EMPTY
) -> ProcessDefinition:
    """Store `definition` as the next version of its type and return it with that version; the
    types of `code` (processes written in Python) are not the API's to register."""
    definition = validate_definition(definition)
    if definition.kind == "code":
        raise DomainError.one(
            "CODE_PROCESS", "a process of kind code comes from an installed package", "kind"
        )
    if definition.type in code:
        raise Conflict.one("CODE_PROCESS", f"{definition.type} is a process written in Python", "type")
    if definition.type in RESERVED:
        raise Conflict.one(
            "RESERVED_TYPE",
            f"{definition.type} is the orchestrator's own ({RESERVED[definition.type]})",
            "type",
        )
    for _ in range(5):  # two registrations racing for one version: the loser takes the next
        with session_scope(engine) as s:
            current = s.exec(
                select(func.max(ProcessDefinitionRow.version)).where(
                    ProcessDefinitionRow.tenant_id == tenant, ProcessDefinitionRow.type == definition.type
                )
            ).one()
        base = 1 if definition.type in BUILTINS else 0
        stored = definition.model_copy(update={"version": max(current or 0, base) + 1})
        try:
            with session_scope(engine) as s:
                s.add(
                    ProcessDefinitionRow(
                        tenant_id=tenant,
                        type=stored.type,
                        version=stored.version or 0,
                        body=stored.model_dump(mode="json"),
                        created_at=datetime.now(UTC),
                    )
                )
            return stored
        except IntegrityError:
            continue
    raise RuntimeError("could not assign a version: too many concurrent registrations")


def get(
    engine: Engine,
    tenant: str,
    type_: str,
    version: int | None = None,
    code: Mapping[str, ProcessDefinition] = EMPTY,
) -> ProcessDefinition:
    """The given version of a type, or its latest; `NotFound` naming what is missing. A process
    written in Python (in `code`) has one version, the installed one."""
    if type_ in code:
        if version in (None, 1):
            return code[type_]
        raise NotFound.one("PROCESS_VERSION_NOT_FOUND", f"{type_} has no version {version}", "processVersion")
    with session_scope(engine) as s:
        query = select(ProcessDefinitionRow).where(
            ProcessDefinitionRow.tenant_id == tenant, ProcessDefinitionRow.type == type_
        )
        if version is not None:
            query = query.where(ProcessDefinitionRow.version == version)
        row = s.exec(query.order_by(ProcessDefinitionRow.version.desc()).limit(1)).first()  # type: ignore[attr-defined]
    if row is not None:
        return ProcessDefinition.model_validate(row.body)
    builtin = BUILTINS.get(type_)
    if builtin is not None and version in (None, 1):
        return builtin
    if builtin is None and version is None:
        raise NotFound([FieldError("PROCESS_NOT_FOUND", f"no process of type {type_!r}", "processType")])
    raise NotFound(
        [FieldError("PROCESS_VERSION_NOT_FOUND", f"{type_} has no version {version}", "processVersion")]
    )


def list_latest(
    engine: Engine, tenant: str, code: Mapping[str, ProcessDefinition] = EMPTY
) -> list[ProcessDefinition]:
    """The latest version of every type: built-ins, processes written in Python, the tenant's own."""
    with session_scope(engine) as s:
        rows = s.exec(select(ProcessDefinitionRow).where(ProcessDefinitionRow.tenant_id == tenant)).all()
    latest: dict[str, ProcessDefinition] = {**BUILTINS, **code}
    for row in rows:
        known = latest.get(row.type)
        if known is None or row.version > (known.version or 0):
            latest[row.type] = ProcessDefinition.model_validate(row.body)
    return sorted(latest.values(), key=lambda d: d.type)
