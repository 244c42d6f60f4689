"""Order activities against a fake session port: a session not started yet is a retry, not a refusal."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import OrderActivities
from domain.errors import NotFound
from domain.orders import SessionMove
from domain.session import ActionRequest, SessionStart, SessionView


class NoSessionYet:
    """The session port while the order's sessions are still being started."""

    def __init__(self) -> None:
        self.acted: list[str] = []

    async def start(self, start: SessionStart) -> SessionView:
        raise AssertionError("not started here")

    async def act(
        self, tenant: str, session_id: str, request: ActionRequest, update_id: str | None = None
    ) -> Any:
        self.acted.append(request.action)
        raise AssertionError("nothing to act on")

    async def view(self, tenant: str, session_id: str) -> SessionView:
        raise NotFound.one("SESSION_NOT_FOUND", f"no session {session_id!r}", "id")


def move(status: str) -> SessionMove:
    return SessionMove(tenant="t", session_id="ses_x", process_type="WEB_ORDER", status=status)


async def test_moving_a_session_not_started_yet_is_retried_and_cancelling_it_is_done() -> None:
    sessions = NoSessionYet()
    acts = OrderActivities(engine=None, sessions=sessions, publisher=None)  # type: ignore[arg-type]
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as retry:
        await env.run(acts.move_fulfillment_session, move("in_transit"))
    assert retry.value.type == "SessionStarting" and not retry.value.non_retryable
    await env.run(acts.move_fulfillment_session, move("cancelled"))  # nothing to cancel: done
    assert sessions.acted == []
