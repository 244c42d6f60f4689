"""What activities need from the client side, as protocols: `clients/` implements them and the worker
passes them in, so activities never import `clients` (which imports the workflows that import us)."""

from __future__ import annotations

from typing import Protocol

from domain.changes import AppliedChange
from domain.events import Event
from domain.session import ActionRequest, SessionStart, SessionView


class EventPublisher(Protocol):
    async def publish(self, event: Event) -> None:
        """Wake every channel (webhooks, push) that wants this committed event; safe to repeat."""


class Sessions(Protocol):
    async def start(self, start: SessionStart) -> SessionView:
        """Start the session, or find it when it was started before."""

    async def act(
        self, tenant: str, session_id: str, request: ActionRequest, update_id: str | None = None
    ) -> SessionView:
        """Apply an action once per `update_id`; raises `Conflict` when the state refuses it."""

    async def view(self, tenant: str, session_id: str) -> SessionView: ...

    async def apply_change(self, tenant: str, session_id: str, change: AppliedChange) -> SessionView:
        """Apply an accepted change to the session, once per change; `Conflict` when the session
        has ended (or `WorkflowNotFound` when it has closed)."""
