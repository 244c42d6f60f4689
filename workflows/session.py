"""The session workflow: an interpreter of the process definition the session was started with.

Actions arrive as Updates. The validator refuses what the current state does not allow, so a
refused action never reaches history. Each accepted change is written to the revision trail and
the read model by a local activity before the Update returns, so a caller reads its own write.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.partners import PartnerActivities
    from activities.sessions import SessionActivities, SessionStock
    from domain import partners
    from domain.changes import AppliedChange, HeldStock, context_after, targets
    from domain.errors import Conflict, to_failure
    from domain.ids import call_idempotency_key
    from domain.partners import CallResult, Notification, PartnerCall, PartnerEvent
    from domain.pickup import PickupItem
    from domain.process import CHANGE_ACTION, AwaitStep, CallStep, NotifyStep, TimerStep
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
    from domain.templates import render, render_path
    from workflows import search_attributes as sa

TIMER_ACTOR = "system:timer"
DROP = ActionRequest(action="", actor="system:drop")  # `on_event`: discard the event
PROCESS_ACTOR = "system:process"
# Sessions started from release 0.3 record their changes strictly one after another.
RECORD_IN_ORDER = "session-record-in-order"
BOOKKEEPING = timedelta(seconds=30)


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
        # The session's context (what it was started with, and its calls' answers): the start's own
        # dict, so what a process written in Python puts there is in the view and carried over.
        self.context: dict[str, Any] = start.context
        self._call: asyncio.Task[CallResult] | None = None  # the state's call, in flight
        self._call_step: CallStep | None = None
        self._call_revision = -1
        self._notified_through = self._recorded  # the revision whose notify steps are done
        self._stock_held = start.status is not None  # a continued run held its stock in an earlier one
        # Taken before any handler runs: an action sent right after the start can arrive in the
        # first task, and its handler runs before `run` records the creation.
        self._created = self.view()

    @workflow.run
    async def run(self, start: SessionStart) -> SessionView:
        if self._recorded < 0:
            await self._record(
                "create", None, ActionRequest(action="create", actor=start.actor), self._created
            )
            await self._notify(self._created)
            self._notified_through = 0
            await self._hold_stock()
        while not self._definition.is_terminal(self._status):
            if workflow.info().is_continue_as_new_suggested() and not self.busy():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry_over())
            await self._step()
        await self._entered(self._revision)  # a process written in Python ends its part
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._settle_stock()
        return self.view()

    def _holds(self) -> list[HeldStock] | None:
        """What a pickup session holds: its `context.items` at its `context.locationRef` (None for
        another process, or a context without both)."""
        location, items = self.context.get("locationRef"), self.context.get("items")
        if not self._definition.pickup or not isinstance(location, str) or not isinstance(items, list):
            return None
        try:
            return targets(location, [PickupItem.model_validate(i) for i in items])
        except ValueError:  # pydantic's ValidationError: items the session cannot hold
            return None

    async def _hold_stock(self) -> None:
        holds = self._holds()
        if holds is not None and self._start.holds_stock:
            await workflow.execute_activity_method(
                SessionActivities.hold_session_stock,
                SessionStock(tenant=self._start.tenant, session_id=self._start.session_id, holds=holds),
                start_to_close_timeout=BOOKKEEPING,
            )
        self._stock_held = True

    async def _settle_stock(self) -> None:
        if not self._definition.pickup or not self._start.holds_stock:
            return
        await workflow.execute_activity_method(
            SessionActivities.settle_session_stock,
            SessionStock(
                tenant=self._start.tenant,
                session_id=self._start.session_id,
                consumed=self._status in self._definition.collected_states,
            ),
            start_to_close_timeout=BOOKKEEPING,
        )

    async def _entered(self, revision: int) -> bool:
        """Run the entry steps of the state `revision` entered (a call, a process's own), once; False
        when the session has already left it. They wait for the change's own record, so its event
        comes first. (Notify steps run with the change itself, for every state entered.)"""
        if self._start.entered >= revision:
            return True
        self._start.entered = revision
        state = self._definition.state(self._status)
        reaching = any(isinstance(s, CallStep) for s in (state.steps if state else []))
        if reaching or self._definition.kind == "code":
            await workflow.wait_condition(lambda: self._recorded >= revision)
            if self._revision != revision:
                return False
        await self._enter(revision)
        return True

    async def _step(self) -> None:
        """Run the state's entry steps once, then wait for whichever comes first: a change, a partner
        event it awaits, its call's outcome, or a timer (its own, or an await's timeout)."""
        revision = self._revision
        if not await self._entered(revision):
            return
        awaits = self._steps(AwaitStep)
        request = self._take_event(awaits)
        if request is not None:
            await self._transition(request)
            return
        deadline = self._deadline(awaits)
        inbox = len(self._start.inbox)
        try:
            await workflow.wait_condition(
                lambda: (
                    self._revision != revision
                    or len(self._start.inbox) != inbox
                    or (self._call is not None and self._call.done())
                    or (not self.busy() and workflow.info().is_continue_as_new_suggested())
                ),
                timeout=deadline[0] if deadline else None,
            )
        except TimeoutError:
            assert deadline is not None
            await self._transition(ActionRequest(action=deadline[1], actor=TIMER_ACTOR))
            return
        if self._call is not None and self._call.done():
            await self._settle_call()

    def _steps(self, kind: type[Any]) -> list[Any]:
        state = self._definition.state(self._status)
        return [step for step in state.steps if isinstance(step, kind)] if state else []

    def _deadline(self, awaits: list[AwaitStep]) -> tuple[timedelta, str] | None:
        """The nearest of the state's timers, counted from the change that entered it."""
        timers = [(t.after_seconds, t.action) for t in self._steps(TimerStep)[:1]]
        timers += [(a.timeout_seconds, a.on_timeout) for a in awaits if a.timeout_seconds and a.on_timeout]
        if not timers:
            return None
        seconds, action = min(timers, key=lambda t: t[0])
        elapsed = (workflow.now() - self._changed_at).total_seconds()
        return timedelta(seconds=max(seconds - elapsed, 0)), action

    def _take_event(self, awaits: list[AwaitStep]) -> ActionRequest | None:
        """The change the oldest held event the state can take makes, the event taken out of the
        inbox (and those `on_event` drops)."""
        i = 0
        while i < len(self._start.inbox):
            request = self.on_event(self._start.inbox[i], awaits)
            if request is None:
                i += 1
                continue
            self._start.inbox.pop(i)
            if request is not DROP:
                return request
        return None

    def on_event(self, event: PartnerEvent, awaits: list[AwaitStep]) -> ActionRequest | None:
        """The change a held partner event makes now: the action of the state's `await` step for its
        type (as the partner); None keeps it for a later state; `DROP` discards it. A process written
        in Python may take other events here."""
        step = next((a for a in awaits if a.event == event.type), None)
        if step is None:
            return None
        return ActionRequest(action=step.action, actor=f"partner:{event.connector}", data=event.data)

    async def _enter(self, revision: int) -> None:
        """A state's `call` step starts (it runs while the session waits, so an action can still move
        the session meanwhile); then a process written in Python does its part."""
        state = self._definition.state(self._status)
        for index, step in enumerate(state.steps if state else []):
            if isinstance(step, CallStep):
                self._call_step = step
                self._call_revision = revision
                call = PartnerCall(
                    tenant=self._start.tenant,
                    session_id=self._start.session_id,
                    step=f"{self._status}.steps[{index}]",
                    connector=step.connector,
                    method=step.method,
                    path=render_path(step.path, self._scope()),
                    body=render(step.body, self._scope()),
                    idempotency_key=call_idempotency_key(self._start.session_id, revision, index),
                )
                self._call = asyncio.create_task(self._call_partner(call, step.max_attempts))
        await self.on_enter(self._status)

    async def _call_partner(self, call: PartnerCall, attempts: int) -> CallResult:
        """The first attempt in the worker that entered the state (a local activity: no task to
        dispatch, the answer settled in the same workflow task, a partner's quick answer moving the
        session within milliseconds), bounded by `INLINE_TIMEOUT`; what it leaves to retry, regular
        activities, whose heartbeats tell a lost worker in seconds, each bounded by the connector's
        timeout (at most a minute)."""
        try:
            return await workflow.execute_local_activity_method(
                PartnerActivities.call_partner,
                call.model_copy(update={"timeout_seconds": partners.INLINE_TIMEOUT.total_seconds()}),
                start_to_close_timeout=partners.INLINE_TIMEOUT + timedelta(seconds=5),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except FailureError as e:  # a local activity's own failure comes unwrapped
            failure = e.cause if isinstance(e, ActivityError) else e
            if attempts <= 1 or (isinstance(failure, ApplicationError) and failure.non_retryable):
                raise
            wait = failure.next_retry_delay if isinstance(failure, ApplicationError) else None
        await workflow.sleep(wait or timedelta(seconds=1))
        return await workflow.execute_activity_method(
            PartnerActivities.call_partner,
            call.model_copy(update={"attempts_before": 1}),
            start_to_close_timeout=timedelta(seconds=90),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=2),
                maximum_interval=timedelta(minutes=5),
                maximum_attempts=attempts - 1,
                non_retryable_error_types=[partners.REFUSED],
            ),
        )

    async def _notify(self, view: SessionView, request: ActionRequest | None = None) -> None:
        """The `notify` steps of the state a change entered, then the events a process written in
        Python adds (`notifications`), once the change's record is in: every state entered
        notifies, however quickly it is left. The next change's record waits for them
        (`_notified_through`), so a session's events commit in order."""
        state = self._definition.state(view.status)
        events = [
            (
                f"process.{step.event}",
                {
                    "sessionId": self._start.session_id,
                    "reference": self._start.reference,
                    "status": view.status,
                    "revision": view.revision,
                    "payload": render(step.payload, self._scope()),
                },
            )
            for step in (state.steps if state else [])
            if isinstance(step, NotifyStep)
        ]
        if request is not None:
            events += self.notifications(view, request)
        for type_, data in events:
            self._start.notified += 1
            notification = Notification(
                tenant=self._start.tenant,
                session_id=self._start.session_id,
                type=type_,
                sequence=self._start.notified,
                data=data,
                at=workflow.now(),
            )
            await workflow.execute_local_activity_method(
                SessionActivities.notify, notification, start_to_close_timeout=timedelta(seconds=15)
            )

    def notifications(self, view: SessionView, request: ActionRequest) -> list[tuple[str, dict[str, Any]]]:
        """Events (type, data) a process written in Python emits for a change, after its notify
        steps' (none here). Their types are in the event catalogue, so webhooks can subscribe."""
        return []

    def busy(self) -> bool:
        """Work in flight that a continue-as-new would lose: the state's call (and a process's own)."""
        return self._call is not None

    async def on_enter(self, status: str) -> None:
        """What a process written in Python does on entering a state, after the state's own steps
        (nothing here). It runs in the session's loop: actions sent meanwhile are still applied."""

    async def apply(self, action: str, data: dict[str, Any] | None = None) -> SessionView | None:
        """Apply `action` as the process (actor `system:process`), when the current state allows it;
        None when it does not (the session moved on meanwhile)."""
        if action not in self._definition.allowed_actions(self._status):
            return None
        return await self._transition(ActionRequest(action=action, actor=PROCESS_ACTOR, data=data or {}))

    async def _settle_call(self) -> None:
        """The call's outcome moves the session, if it is still in the state that made the call."""
        call, step, revision = self._call, self._call_step, self._call_revision
        self._call = self._call_step = None
        assert call is not None and step is not None
        try:
            result: CallResult = call.result()
        except FailureError as e:
            failure = e.cause if isinstance(e, ActivityError) else e
            reason = failure.message if isinstance(failure, FailureError) else str(failure or e)
            action = step.on_failure
            data: dict[str, Any] = {"connector": step.connector, "reason": reason}
        else:
            if step.result_key and self._revision == revision:  # an answer too late changes nothing
                self.context[step.result_key] = result.body
            action, data = step.on_success, {"connector": step.connector, "status": result.status}
        if action is not None and self._revision == revision:
            await self._transition(ActionRequest(action=action, actor=partners.CALL_ACTOR, data=data))

    def _scope(self) -> dict[str, Any]:
        view = self.view()
        session = {
            "id": view.id,
            "reference": view.reference,
            "cartId": view.cart_id,
            "status": view.status,
            "processType": view.process_type,
            "revision": view.revision,
            "context": view.context,
        }
        return {"session": session, "data": self._start.entry_data}

    @workflow.signal
    def partner_event(self, event: PartnerEvent) -> None:
        """A partner's event for this session: applied when the session is in a state awaiting its
        type (now, or on entering one later); each event id once."""
        if event.id in self._start.seen_events:
            return
        self._start.seen_events = [*self._start.seen_events[-(partners.SEEN - 1) :], event.id]
        self._start.inbox = [*self._start.inbox[-(partners.INBOX - 1) :], event]

    @workflow.update
    async def act(self, request: ActionRequest) -> SessionView:
        return await self._transition(request)

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        try:
            next_status(self._definition, self._status, request.action, client=True)
        except ActionNotAllowed as e:
            raise to_failure(e) from None

    @workflow.update
    async def apply_change(self, change: AppliedChange) -> SessionView:
        """An accepted change proposal: the session adopts the change's stock (when it moves), its
        context takes the changes, and its revision trail an entry with the decider; same state, and
        its entry steps and timers are not run again."""
        await workflow.wait_condition(lambda: self._stock_held)  # else the first hold would come after
        if change.holds is not None:
            await workflow.execute_activity_method(
                SessionActivities.adopt_change_stock,
                SessionStock(
                    tenant=self._start.tenant,
                    session_id=self._start.session_id,
                    holds=change.holds,
                    change_id=change.change_id,
                ),
                start_to_close_timeout=BOOKKEEPING,
            )
        self.context.update(context_after(self.context, change.changes))
        caught_up = self._start.entered >= self._revision
        self._revision += 1
        self._updated_at = workflow.now()
        if caught_up:  # the state was not entered again
            self._start.entered = self._revision
        request = ActionRequest(
            action=CHANGE_ACTION,
            actor=change.actor,
            comment=change.comment,
            data={
                "changeId": change.change_id,
                "reason": change.reason,
                "changes": change.changes.model_dump(mode="json", by_alias=True, exclude_none=True),
            },
        )
        view = await self._record(CHANGE_ACTION, self._status, request)
        self._notified_through = max(self._notified_through, view.revision)
        return view

    @apply_change.validator
    def _validate_change(self, change: AppliedChange) -> None:
        if self._definition.is_terminal(self._status):
            raise to_failure(Conflict.one("SESSION_ENDED", f"the session is {self._status}", "sessionId"))

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
        self._start.entry_data = request.data
        view = await self._record(request.action, source, request)
        await self._notify(view, request)
        self._notified_through = max(self._notified_through, view.revision)
        return view

    async def _record(
        self, action: str, source: str | None, request: ActionRequest, view: SessionView | None = None
    ) -> SessionView:
        view = view or self.view()
        if workflow.patched(RECORD_IN_ORDER):
            # Concurrent actions change state in the order they were accepted; their records wait
            # for each other, so events commit in sequence order and a reader never sees a gap.
            # And after the notify events of the change before: every event of a session in order.
            await workflow.wait_condition(
                lambda: self._recorded >= view.revision - 1 and self._notified_through >= view.revision - 1
            )
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
        if view.revision > 0 or not self._start.status_set_at_start:
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
