"""The session workflow: an interpreter of the process definition the session was started with.

Actions arrive as Updates. The validator refuses what the current state does not allow, so a
refused action never reaches history. Each accepted change is written to the revision trail and
the read model by a local activity before the Update returns, so a caller reads its own write.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.sessions import SessionActivities
    from domain.errors import to_failure
    from domain.process import TimerStep
    from domain.session import (
        ActionNotAllowed,
        ActionRequest,
        Revision,
        SessionChange,
        SessionStart,
        SessionView,
        next_status,
        session_view,
    )
    from workflows import search_attributes as sa

TIMER_ACTOR = "system:timer"
# Sessions started from release 0.3 record their changes strictly one after another.
RECORD_IN_ORDER = "session-record-in-order"


# Not sandboxed: the sandbox re-ran this module's code for every new session, 10 of the worker's
# 31 CPU-ms per lifecycle (bench/floor.py), on the path of every session. What it guards, this
# module keeps by itself: no clock, randomness or I/O but the workflow API's, no module state; the
# replay test holds every change to recorded histories.
@workflow.defn(name="FulfillmentSession", sandboxed=False)
class SessionWorkflow:
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        self._start = start
        self._definition = start.definition
        self._status = start.status or start.definition.initial_state
        self._revision = start.revision
        self._created_at = start.created_at or workflow.now()
        self._updated_at = start.updated_at or self._created_at
        # Timers count from this, in workflow time: `created_at` is the starting client's clock.
        self._changed_at = start.changed_at or start.updated_at or workflow.now()
        self._recorded = start.revision if start.status else -1
        # Taken before any handler runs: an action sent right after the start can arrive in the
        # first task, and its handler runs before `run` records the creation.
        self._created = self.view()

    @workflow.run
    async def run(self, start: SessionStart) -> SessionView:
        if self._recorded < 0:
            await self._record(
                "create", None, ActionRequest(action="create", actor=start.actor), self._created
            )
        while not self._definition.is_terminal(self._status):
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())
            await self._wait_for_change_or_timer()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    async def _wait_for_change_or_timer(self) -> None:
        revision = self._revision
        timer = self._timer()
        timeout = None
        if timer is not None:
            elapsed = (workflow.now() - self._changed_at).total_seconds()
            timeout = timedelta(seconds=max(timer.after_seconds - elapsed, 0))
        try:
            await workflow.wait_condition(
                lambda: self._revision != revision or workflow.info().is_continue_as_new_suggested(),
                timeout=timeout,
            )
        except TimeoutError:
            assert timer is not None
            await self._transition(ActionRequest(action=timer.action, actor=TIMER_ACTOR))

    def _timer(self) -> TimerStep | None:
        state = self._definition.state(self._status)
        return next((step for step in state.steps if isinstance(step, TimerStep)), None) if state else None

    @workflow.update
    async def act(self, request: ActionRequest) -> SessionView:
        return await self._transition(request)

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        try:
            next_status(self._definition, self._status, request.action)
        except ActionNotAllowed as e:
            raise to_failure(e) from None

    @workflow.update
    async def view_when_recorded(self) -> SessionView:
        """The current view once it is in the read model: how releases up to 0.2 started a session
        (an Update-with-start); kept so those sessions replay."""
        await workflow.wait_condition(lambda: self._recorded >= self._revision)
        return self.view()

    @workflow.query
    def view(self) -> SessionView:
        return session_view(self._start, self._status, self._revision, self._created_at, self._updated_at)

    async def _transition(self, request: ActionRequest) -> SessionView:
        """Change state synchronously (so a concurrent validator sees it), then record it."""
        source = self._status
        self._status = next_status(self._definition, source, request.action)
        self._revision += 1
        self._updated_at = self._changed_at = workflow.now()
        return await self._record(request.action, source, request)

    async def _record(
        self, action: str, source: str | None, request: ActionRequest, view: SessionView | None = None
    ) -> SessionView:
        view = view or self.view()
        if workflow.patched(RECORD_IN_ORDER):
            # Concurrent actions change state in the order they were accepted; their records wait
            # for each other, so events commit in sequence order and a reader never sees a gap.
            await workflow.wait_condition(lambda: self._recorded >= view.revision - 1)
        revision = Revision(
            tenant=self._start.tenant,
            session_id=view.id,
            cart_id=view.cart_id,
            revision=view.revision,
            action=action,
            from_=source,
            to=view.status,
            actor=request.actor,
            comment=request.comment,
            data=request.data,
            at=view.updated_at,
        )
        workflow.upsert_search_attributes([sa.STATUS.value_set(view.status)])
        allowed = ", ".join(view.allowed_actions) or "none"
        workflow.set_current_details(f"**{view.status}** (revision {view.revision}); allowed: {allowed}")
        await workflow.execute_local_activity_method(
            SessionActivities.record_session_change,
            SessionChange(view=view, revision=revision),
            start_to_close_timeout=timedelta(seconds=15),
        )
        self._recorded = max(self._recorded, view.revision)
        return view

    def _carry_over(self) -> SessionStart:
        return self._start.model_copy(
            update={
                "status": self._status,
                "revision": self._revision,
                "created_at": self._created_at,
                "updated_at": self._updated_at,
                "changed_at": self._changed_at,
            }
        )
