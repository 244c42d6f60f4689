"""Session bookkeeping: the revision and the read-model row, in one transaction, idempotently."""

from __future__ import annotations

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity

from domain.session import SessionChange
from storage import sessions

log = structlog.get_logger(__name__)


class SessionActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="record_session_change")
    def record_session_change(self, change: SessionChange) -> None:
        info = activity.info()
        sessions.record_change(self._engine, change)
        log.debug(
            "session.recorded",
            tenant=change.revision.tenant,
            workflow_id=info.workflow_id,
            revision=change.revision.revision,
            status=change.view.status,
        )
