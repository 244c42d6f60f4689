"""Partner calls and partner events: what a `call` step sends and gets back, what a partner tells us.

A call's answer decides what happens next: 2xx succeeds, a 4xx other than 408 and 429 is a refusal
that no retry changes, anything else (5xx, 408, 429, no answer) is retried with backoff.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from domain.model import CamelModel

CALL_ACTOR = "system:call"
REFUSED = "PartnerRefused"  # the error type of a refusal: never retried
MAX_RESULT = 32 * 1024  # the most of a JSON answer kept in the session's context (it is in history)
MAX_RETRY_AFTER = timedelta(hours=1)  # a partner's Retry-After is honoured up to this
INLINE_TIMEOUT = timedelta(seconds=2)  # the most the first attempt, made inline, waits for an answer
INBOX = 20  # partner events (each at most 32 KiB) a session holds for states it has not reached
SEEN = 500  # message ids a session remembers, to apply each event once


class PartnerCall(CamelModel):
    """One intent: the same on every attempt, so the partner sees one `Idempotency-Key`."""

    tenant: str
    session_id: str
    step: str  # where it comes from, e.g. `SUBMITTED.steps[0]`
    connector: str
    method: str
    path: str
    body: Any = None
    idempotency_key: str
    timeout_seconds: float | None = None  # a bound below the connector's own (the inline attempt's)
    attempts_before: int = 0  # attempts made before this activity's first (the inline one)


class CallResult(CamelModel):
    status: int
    body: Any = None  # the JSON answer (None when there is none, or it is not JSON)


class PartnerEvent(CamelModel):
    """What a partner told us about a session, as the session's workflow receives it."""

    id: str  # the partner's `webhook-id`: one event applied once
    connector: str  # the connector's name
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime


class CallAttempt(CamelModel):
    """One attempt of a call, as `GET /sessions/{id}/calls` shows it."""

    id: int
    connector: str
    step: str
    idempotency_key: str
    attempt: int
    method: str
    url: str
    outcome: Literal["succeeded", "refused", "failed"]
    status_code: int | None
    duration_ms: int
    response_excerpt: str
    error: str | None
    at: datetime


def outcome(status: int) -> Literal["succeeded", "refused", "failed"]:
    """`refused`: permanent (onFailure at once); `failed`: retried."""
    if 200 <= status < 300:
        return "succeeded"
    if 400 <= status < 500 and status not in (408, 429):
        return "refused"
    return "failed"


class Notification(CamelModel):
    """A `notify` step's event: `process.<event>` on the session's notify subject, numbered per session."""

    tenant: str
    session_id: str
    type: str
    sequence: int
    data: dict[str, Any]
    at: datetime


def notify_subject(session_id: str) -> str:
    """Notify events have a subject of their own: the session's own numbers its revisions."""
    return f"{session_id}/notify"
