"""Webhook delivery activities: read what is pending, make one signed attempt and settle its outcome."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from activities.batching import Batched
from activities.ports import EventPublisher
from domain.events import Event
from domain.signing import signature_header
from domain.webhooks import (
    FAILING_LIMIT_DAYS,
    AttemptOutcome,
    DeliveryRequest,
    DeliveryResult,
    Handover,
    NextAttempt,
    Outcome,
    PendingEvents,
    WebhookTarget,
    backoff,
)
from egress.http import Egress
from egress.urls import EgressError
from storage import webhooks
from storage.engine import session_scope
from storage.tables import WebhookRow

log = structlog.get_logger(__name__)
USER_AGENT = "fulfillment-webhooks/1"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max((parsedate_to_datetime(value) - now).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Settlement:
    request: DeliveryRequest
    status: int | None
    excerpt: str
    error: str | None
    duration_ms: int


class WebhookActivities:
    def __init__(
        self, engine: Engine, http: aiohttp.ClientSession, publisher: EventPublisher, allow_private: bool
    ) -> None:
        self._engine, self._egress, self._publisher = engine, Egress(http, allow_private), publisher
        # A dispatcher's attempts in one workflow task read together and settle together.
        self.next_up: Batched[webhooks.Wanted, webhooks.NextUp] = Batched(self._read_next_up)
        self._settle: Batched[Settlement, tuple[Outcome, Event | None]] = Batched(self._settle_all)

    @activity.defn(name="webhook_pending")
    async def webhook_pending(self, target: WebhookTarget) -> PendingEvents:
        found = await asyncio.to_thread(
            webhooks.pending, self._engine, target.tenant, target.webhook_id, target.subject
        )
        return PendingEvents(enabled=found.enabled, events=found.events, more=found.more)

    @activity.defn(name="deliver_next_webhook")
    async def deliver_next(self, request: NextAttempt) -> AttemptOutcome:
        """Attempt the subject's first pending event: the dispatcher's one activity per attempt.

        The attempt number continues the event's count when the dispatcher says it is between
        attempts of that very event; an event handled meanwhile (recovered, given up) starts anew.
        """
        found = await self.next_up(webhooks.Wanted(request.tenant, request.webhook_id, request.subject))
        if found.hook is None:
            return AttemptOutcome(enabled=False)
        if not found.pending.events:
            return AttemptOutcome()
        event = found.pending.events[0]
        carried = request.retrying
        attempt = carried.attempts + 1 if carried is not None and carried.event_id == event.id else 1
        attempts = len(request.schedule) + 1
        delivery = DeliveryRequest(
            tenant=request.tenant,
            webhook_id=request.webhook_id,
            event=event,
            attempt=attempt,
            final=attempt >= attempts,
            now=request.now,
            rewinds=found.pending.rewinds,
        )
        result = await self.attempt(found.hook, delivery)
        more = len(found.pending.events) > 1 or found.pending.more
        return AttemptOutcome(event_id=event.id, attempt=attempt, result=result, more=more)

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, request: DeliveryRequest) -> DeliveryResult:
        """One attempt at a given event: the activity of `WebhookDelivery` runs from release 0.2."""
        hook = await asyncio.to_thread(webhooks.find, self._engine, request.tenant, request.webhook_id)
        if hook is None or not hook.enabled:
            return DeliveryResult(outcome="disabled")
        return await self.attempt(hook, request)

    async def attempt(
        self,
        hook: WebhookRow,
        request: DeliveryRequest,
        timeout: float | None = None,  # noqa: ASYNC109 (the POST's alone: settling is never cut short)
    ) -> DeliveryResult:
        """Sign, POST (in `timeout` seconds, else the egress default), and settle the outcome."""
        event = request.event
        body = event.model_dump_json().encode()
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(
                webhooks.signing_secrets(hook, datetime.now(UTC)), event.id, stamp, body
            ),
        }
        status: int | None = None
        excerpt, error, retry_after = "", None, None
        started = time.perf_counter()
        try:
            # a 3xx is a failure
            reply = await self._egress.post(hook.url, data=body, headers=headers, timeout=timeout)
            status, excerpt = reply.status, reply.text()
            retry_after = parse_retry_after(reply.headers.get("Retry-After"), datetime.now(UTC))
        except EgressError as e:  # its message names no address
            error = f"{type(e).__name__}: {e}"[:500]
        duration_ms = int((time.perf_counter() - started) * 1000)
        outcome, disabled = await self._settle(Settlement(request, status, excerpt, error, duration_ms))
        log.info(
            "webhook.attempt",
            tenant=request.tenant,
            workflow_id=activity.info().workflow_id,
            webhook_id=request.webhook_id,
            event_id=event.id,
            attempt=request.attempt,
            status=status,
            outcome=outcome,
        )
        if disabled is not None:
            await self._publisher.publish(disabled)
        return DeliveryResult(
            outcome=outcome, status_code=status, retry_after_seconds=retry_after, duration_ms=duration_ms
        )

    def _read_next_up(self, wanted: list[webhooks.Wanted]) -> list[webhooks.NextUp]:
        return webhooks.next_up(self._engine, wanted)

    def _settle_all(self, settlements: list[Settlement]) -> list[tuple[Outcome, Event | None]]:
        """Log the attempts and apply their consequences, in one transaction."""
        with session_scope(self._engine) as s:
            return [_settle_one(s, one) for one in settlements]


# 1/SLOW of the inline budget: the longest an attempt waits for a slot, and the slowest answer that
# does not pause the endpoint's inline attempts.
SLOW = 4


class FirstAttempts:
    """The first attempt at a committed event, made by the worker that committed it, before the
    activity that wrote it returns: no signal, workflow task or second activity on an event's way to
    a healthy endpoint (issue #16: with one subscriber, the worker's CPU per lifecycle fell from about
    61 to 47 ms; loaded p99 from action to receipt from 1.2-1.6 s to 0.22 s). What is not settled
    here goes to the endpoint's dispatcher as before, so the writing activity still returns only once
    each event is delivered or handed over, and a crash in between retries that activity.

    Not inline (the dispatcher's at once): an endpoint that is failing; one that, from this worker in
    the last `PAUSE` seconds, failed an inline attempt (an error, or no answer within the budget) or
    took more than 1/`SLOW` of the budget to answer; one with `concurrency` inline attempts from this
    worker in flight for 1/`SLOW` of the budget; and an event behind an earlier pending one of its
    subject (order is the dispatcher's). An inline attempt that fails is handed over as attempt 1,
    its retry after the schedule's first wait."""

    PAUSE = 60.0

    def __init__(
        self, hooks: WebhookActivities, schedule: list[int], budget_ms: int, concurrency: int
    ) -> None:
        self._hooks, self._schedule = hooks, schedule
        self._budget, self._concurrency = budget_ms / 1000, concurrency
        self._paused: dict[tuple[str, str], float] = {}  # endpoint -> monotonic time it may go inline again
        # Per endpoint: at most `concurrency` inline attempts at once from this worker; a caller waits
        # for a slot up to the budget. Dropped when no caller holds or waits for one.
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._users: dict[tuple[str, str], int] = {}

    async def __call__(self, event: Event, webhook_ids: list[str]) -> dict[str, Handover | None]:
        """The webhooks still to be poked, each with its handover if an inline attempt failed."""
        outcomes = await asyncio.gather(*(self._one(event, w) for w in webhook_ids))
        return {w: handover for w, (done, handover) in zip(webhook_ids, outcomes, strict=True) if not done}

    async def _one(self, event: Event, webhook_id: str) -> tuple[bool, Handover | None]:
        endpoint = (event.tenant, webhook_id)
        if self._paused.get(endpoint, 0.0) > time.monotonic():
            return False, None
        deadline = time.monotonic() + self._budget  # the slot's wait and the attempt, together
        slots = self._slots.setdefault(endpoint, asyncio.Semaphore(self._concurrency))
        self._users[endpoint] = self._users.get(endpoint, 0) + 1
        try:
            try:
                async with asyncio.timeout(self._budget / SLOW):
                    await slots.acquire()
            except TimeoutError:
                return False, None  # the endpoint is busy with this worker's attempts: its dispatcher's
            try:
                return await self._inline(event, endpoint, deadline)
            finally:
                slots.release()
        except Exception as e:  # the dispatcher will do it; the action must not fail for a webhook
            log.warning("webhook.inline_failed", tenant=event.tenant, webhook_id=webhook_id, error=repr(e))
            return False, None
        finally:
            self._users[endpoint] -= 1
            if not self._users[endpoint]:
                del self._users[endpoint], self._slots[endpoint]

    async def _inline(
        self, event: Event, endpoint: tuple[str, str], deadline: float
    ) -> tuple[bool, Handover | None]:
        tenant, webhook_id = endpoint
        found = await self._hooks.next_up(webhooks.Wanted(tenant, webhook_id, event.subject, newest=event))
        if found.hook is None:
            return True, None  # disabled or deleted meanwhile: nothing to deliver
        first = found.pending.events[0] if found.pending.events else None
        if first is None or first.id != event.id or found.hook.failing_since is not None:
            return False, None  # handled already, behind an earlier event, or failing: the dispatcher's
        request = DeliveryRequest(
            tenant=tenant,
            webhook_id=webhook_id,
            event=event,
            attempt=1,
            final=not self._schedule,
            now=datetime.now(UTC),
            rewinds=found.pending.rewinds,
        )
        result = await self._hooks.attempt(found.hook, request, timeout=max(deadline - time.monotonic(), 0.0))
        if result.outcome == "failed" or (result.duration_ms or 0) > self._budget * 1000 / SLOW:
            self._pause(endpoint)
        if result.outcome != "failed":
            return True, None
        jitter = random.uniform(0.8, 1.2)  # spreads retries; not a secret
        wait = backoff(self._schedule, 1, result.retry_after_seconds, jitter)
        return False, Handover(event_id=event.id, attempts=1, wait_seconds=wait.total_seconds())

    def _pause(self, endpoint: tuple[str, str]) -> None:
        if len(self._paused) > 10_000:
            now = time.monotonic()
            self._paused = {k: until for k, until in self._paused.items() if until > now}
        self._paused[endpoint] = time.monotonic() + self.PAUSE


def _settle_one(s: Session, settled: Settlement) -> tuple[Outcome, Event | None]:
    request, status = settled.request, settled.status
    event, now = request.event, request.now
    state = webhooks.endpoint_state(s, request.tenant, request.webhook_id)
    if state is None:
        return "disabled", None
    enabled, failing_since = state
    delivered = status is not None and 200 <= status < 300
    outcome: Outcome = "delivered" if delivered else "failed"
    disabled = None
    if delivered:
        if failing_since is not None:
            webhooks.set_failing_since(s, request.tenant, request.webhook_id, None)
        webhooks.mark_handled(
            s, request.tenant, request.webhook_id, event.subject, event.sequence, request.rewinds
        )
    elif not enabled:
        outcome = "disabled"  # meanwhile, or by another attempt settled in this transaction
    elif status == 410:
        reason = "the endpoint answered 410 Gone"
        outcome, disabled = (
            "disabled",
            webhooks.disable_now(s, request.tenant, request.webhook_id, reason, now),
        )
    else:
        if failing_since is None:
            webhooks.set_failing_since(s, request.tenant, request.webhook_id, now)
        since = webhooks.aware(failing_since or now)
        if now - since >= timedelta(days=FAILING_LIMIT_DAYS):
            reason = f"the endpoint has failed continuously since {since.isoformat()}"
            outcome = "disabled"
            disabled = webhooks.disable_now(s, request.tenant, request.webhook_id, reason, now)
        elif request.final:
            outcome = "gave_up"
            webhooks.mark_handled(
                s, request.tenant, request.webhook_id, event.subject, event.sequence, request.rewinds
            )
    webhooks.log_attempt(
        s,
        {
            "tenant_id": request.tenant,
            "webhook_id": request.webhook_id,
            "event_id": event.id,
            "event_type": event.type,
            "attempt": request.attempt,
            "outcome": outcome,
            "status_code": status,
            "response_excerpt": settled.excerpt,
            "error": settled.error,
            "duration_ms": settled.duration_ms,
            "at": now,
        },
    )
    return outcome, disabled
