"""Session bookkeeping: the revision, its event and the read-model row in one transaction, then publish."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity

from activities.ports import EventPublisher
from domain.partners import Notification
from domain.session import SessionChange
from storage import partners, sessions

log = structlog.get_logger(__name__)


class SessionActivities:
    def __init__(self, engine: Engine, publisher: EventPublisher) -> None:
        self._engine, self._publisher = engine, publisher

    @activity.defn(name="record_session_change")
    async def record_session_change(self, change: SessionChange) -> None:
        event = await asyncio.to_thread(sessions.record_change, self._engine, change)
        # Published on every try, not only the one that wrote: a retry after a failed publish
        # finds the event already stored and must still wake its webhooks.
        await self._publisher.publish(event)
        log.debug(
            "session.recorded",
            tenant=change.revision.tenant,
            workflow_id=activity.info().workflow_id,
            revision=change.revision.revision,
            status=change.view.status,
        )

    @activity.defn(name="notify")
    async def notify(self, notification: Notification) -> None:
        """A `notify` step's event: stored once (by its sequence), published on every try."""
        event = await asyncio.to_thread(partners.record_notification, self._engine, notification)
        await self._publisher.publish(event)
