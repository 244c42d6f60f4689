"""What the webhook delivery workflow and its activities exchange."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from domain.events import Event
from domain.model import CamelModel

Outcome = Literal["delivered", "failed", "disabled", "gave_up"]
FAILING_LIMIT_DAYS = 5
MAX_WAIT = timedelta(hours=24)


def backoff(schedule: list[int], attempt: int, retry_after_seconds: float | None, jitter: float) -> timedelta:
    """The wait after failed attempt `attempt`: the endpoint's Retry-After, else the schedule's step
    times `jitter` (drawn from 0.8 to 1.2, so endpoints coming back are not stampeded); at most a day."""
    if retry_after_seconds is not None:
        delay = timedelta(seconds=retry_after_seconds)
    else:
        delay = timedelta(seconds=schedule[attempt - 1] * jitter)
    return min(delay, MAX_WAIT)


class WebhookTarget(CamelModel):
    """One subject of one webhook: its events go out in order (what `webhook_pending` reads)."""

    tenant: str
    webhook_id: str
    subject: str
    schedule: list[int]


class PendingEvents(CamelModel):
    enabled: bool
    events: list[Event]
    more: bool = False  # the read stopped at its limit: read again after delivering these


class Handover(CamelModel):
    """The first attempt at an event, made inline by the worker that committed it, failed: the
    dispatcher makes the next one after `wait_seconds`, numbered on from `attempts`."""

    event_id: str
    attempts: int
    wait_seconds: float


class Poke(CamelModel):
    """A committed event's subject and sequence: "this subject has more", never the event itself."""

    subject: str
    sequence: int
    handover: Handover | None = None


class Retrying(CamelModel):
    """A subject's event between attempts, carried into the dispatcher's next run."""

    event_id: str
    attempts: int
    not_before: datetime


class WebhookEndpoint(CamelModel):
    """What one webhook's dispatcher needs, and what it carries from one run to the next."""

    tenant: str
    webhook_id: str
    shard: int = 0  # which of the endpoint's dispatchers (by a hash of the subject)
    schedule: list[int]
    concurrency: int = 16  # this dispatcher's HTTP attempts in flight at once
    lanes: int = 256  # subjects in progress at once; the rest wait their turn
    run_limit: int = 1000  # attempts per run before continuing as new, so a history stays small
    waiting: dict[str, int] = {}
    retrying: dict[str, Retrying] = {}

    def target(self, subject: str) -> WebhookTarget:
        return WebhookTarget(
            tenant=self.tenant, webhook_id=self.webhook_id, subject=subject, schedule=self.schedule
        )


class DeliveryRequest(CamelModel):
    tenant: str
    webhook_id: str
    event: Event
    attempt: int
    final: bool
    now: datetime  # workflow time: what "failing for 5 days" is measured in
    rewinds: int | None = None  # the subject's recoveries when the event was read (None: release 0.2)


class DeliveryResult(CamelModel):
    outcome: Outcome
    status_code: int | None = None
    retry_after_seconds: float | None = None
    duration_ms: int | None = None  # the HTTP exchange's


class NextAttempt(CamelModel):
    """Attempt the first pending event of one subject of one webhook."""

    tenant: str
    webhook_id: str
    subject: str
    schedule: list[int]
    retrying: Retrying | None = None  # the subject's event between attempts, if it is one
    now: datetime  # workflow time: what "failing for 5 days" is measured in


class AttemptOutcome(CamelModel):
    """What became of it: nothing pending (`event_id` None), or the attempt's result."""

    enabled: bool = True
    event_id: str | None = None
    attempt: int = 0
    result: DeliveryResult | None = None
    more: bool = False  # further events of the subject are pending
