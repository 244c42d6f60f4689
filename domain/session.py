"""Session types shared by the API, the workflow and the activities, and the one transition rule."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from domain.errors import Conflict, FieldError
from domain.model import CamelModel
from domain.partners import PartnerEvent
from domain.process import ProcessDefinition

SYSTEM_ACTOR = "system"


class SessionStart(CamelModel):
    """Everything a session workflow needs; the definition is embedded so the session is pinned to it."""

    tenant: str
    session_id: str
    cart_id: str
    reference: str | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    definition: ProcessDefinition
    actor: str = SYSTEM_ACTOR
    # Set by the client that starts the session (the API's clock, never an API caller's), or by the
    # workflow from workflow time when absent; carried across continue-as-new with the rest:
    created_at: datetime | None = None
    status: str | None = None
    revision: int = 0
    updated_at: datetime | None = None
    changed_at: datetime | None = None  # workflow time of the last change: what timers count from
    # The state's steps: the revision whose entry ran them, the data of the action that entered it
    # (templates read it), partner events not yet applied, the ids of those seen, notify events sent.
    entered: int = -1
    entry_data: dict[str, Any] = Field(default_factory=dict)
    inbox: list[PartnerEvent] = Field(default_factory=list)
    seen_events: list[str] = Field(default_factory=list)
    notified: int = 0
    # What the starting client promises (absent in sessions started by earlier releases, which
    # replay as they ran): it set the FulfillmentStatus search attribute, so the creation's record
    # does not upsert it again; a pickup session holds its items at its location until it ends.
    status_set_at_start: bool = False
    holds_stock: bool = False


class ActionRequest(CamelModel):
    action: str
    comment: str | None = Field(None, max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict)
    actor: str = SYSTEM_ACTOR


class SessionView(CamelModel):
    id: str
    process_type: str
    process_version: int
    cart_id: str
    reference: str | None
    status: str
    allowed_actions: list[str]
    terminal: bool
    revision: int
    context: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def session_view(
    start: SessionStart, status: str, revision: int, created_at: datetime, updated_at: datetime
) -> SessionView:
    """The view of a session in `status`: what the workflow answers, and what a start returns."""
    definition = start.definition
    return SessionView(
        id=start.session_id,
        process_type=definition.type,
        process_version=definition.version or 1,
        cart_id=start.cart_id,
        reference=start.reference,
        status=status,
        allowed_actions=definition.client_actions(status),
        terminal=definition.is_terminal(status),
        revision=revision,
        context=start.context,
        created_at=created_at,
        updated_at=updated_at,
    )


class Revision(CamelModel):
    """One change of a session: revision 0 is its creation (`action` is `create`, `from` is null)."""

    tenant: str
    session_id: str
    cart_id: str
    revision: int
    action: str
    from_: str | None = Field(alias="from")
    to: str
    actor: str
    comment: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime


class SessionChange(CamelModel):
    """What the bookkeeping activity writes in one transaction: the revision and the read-model row."""

    view: SessionView
    revision: Revision


class ActionNotAllowed(Conflict):
    """The current state does not allow the action; the answer says which actions it allows."""

    def __init__(self, action: str, status: str | None, allowed: list[str]) -> None:
        message = f"action {action!r} is not allowed in status {status!r}"
        super().__init__(
            [FieldError("ACTION_NOT_ALLOWED", message, "action")],
            extra={"currentStatus": status, "allowedActions": allowed},
        )


def next_status(definition: ProcessDefinition, status: str, action: str, client: bool = False) -> str:
    """The state `action` leads to from `status`, or `ActionNotAllowed`; a `client` (an API caller)
    may not apply the process's own (`system`) actions."""
    target = definition.target(status, action)
    if target is None or (client and action not in definition.client_actions(status)):
        raise ActionNotAllowed(action, status, definition.client_actions(status))
    return target
