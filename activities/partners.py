"""Partner calls: one attempt per activity attempt, each recorded; the outcome decides the retry.

The request is the same on every attempt (its `Idempotency-Key` is the step's intent), so a partner
that keeps keys sees one effect however often a worker dies or an answer is lost. Refusals (4xx but
408 and 429), a connector gone, or an address the guard refuses are final: `onFailure` at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.webhook_delivery import parse_retry_after
from domain import partners
from domain.connectors import Connector, auth_headers
from domain.partners import CallResult, PartnerCall
from egress.adapters import Request, adapter_of
from egress.http import EXCERPT, Egress, Reply
from egress.urls import EgressError, UnsafeUrl
from storage import connectors
from storage import partners as store

log = structlog.get_logger(__name__)
USER_AGENT = "fulfillment-partners/1"
HEARTBEAT = 1.0  # seconds between heartbeats while a partner holds the request
CONNECTOR_TTL = 2.0  # seconds a worker uses a connector as it read it


class PartnerActivities:
    def __init__(self, engine: Engine, egress: Egress, fresh_for: float = CONNECTOR_TTL) -> None:
        self._engine, self._egress, self._fresh_for = engine, egress, fresh_for
        self._known: dict[tuple[str, str], tuple[float, Connector | None]] = {}

    async def _connector(self, tenant: str, name: str) -> Connector | None:
        """The connector, read at most every `fresh_for` seconds per worker (a change to it reaches
        calls within that): a read and a decryption less on a call's path."""
        now = time.monotonic()
        known = self._known.get((tenant, name))
        if known is None or now - known[0] > self._fresh_for:
            connector = await asyncio.to_thread(connectors.by_name, self._engine, tenant, name)
            if len(self._known) > 10_000:
                self._known.clear()
            known = self._known[(tenant, name)] = (now, connector)
        return known[1]

    @activity.defn(name="call_partner")
    async def call_partner(self, call: PartnerCall) -> CallResult:
        info = activity.info()
        connector = await self._connector(call.tenant, call.connector)
        if connector is None:
            await asyncio.to_thread(
                store.log_call,
                self._engine,
                self._attempt(call, "", None, "refused", 0, f"no connector named {call.connector!r}"),
            )
            raise ApplicationError(
                f"no connector named {call.connector!r}", type=partners.REFUSED, non_retryable=True
            )
        asked = Request(call.method, call.path, call.body)
        try:
            adapter = adapter_of(connector.adapter)
            sent = adapter.request(asked) if adapter else asked
        except Exception as e:  # an adapter that is gone or cannot translate this call: final
            reason = f"adapter {connector.adapter!r} cannot make this call: {type(e).__name__}: {e}"
            await asyncio.to_thread(
                store.log_call, self._engine, self._attempt(call, "", None, "refused", 0, reason)
            )
            raise ApplicationError(reason, type=partners.REFUSED, non_retryable=True) from None
        url = connector.base_url.rstrip("/") + sent.path
        body = b"" if sent.body is None else json.dumps(sent.body, separators=(",", ":")).encode()
        headers = {
            **connector.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": call.idempotency_key,
            "User-Agent": USER_AGENT,
            **auth_headers(connector, call.idempotency_key, body, int(time.time())),
        }
        started = time.monotonic()
        reply: Reply | None = None
        error: str | None = None
        outcome = "failed"
        try:
            async with _heartbeats():
                timeout = min(connector.timeout_seconds, call.timeout_seconds or connector.timeout_seconds)
                reply = await self._egress.request(
                    sent.method, url, headers=headers, data=body or None, timeout=timeout
                )
        except UnsafeUrl as e:  # the guard's refusal is final; anything else of the way out is retried
            error, outcome = str(e), "refused"
        except EgressError as e:
            error = str(e)
        if reply is not None:
            outcome = partners.outcome(reply.status)
        duration = round((time.monotonic() - started) * 1000)
        await asyncio.to_thread(
            store.log_call, self._engine, self._attempt(call, url, reply, outcome, duration, error)
        )
        log.info(
            "partner.called",
            tenant=call.tenant,
            workflow_id=info.workflow_id,
            connector=call.connector,
            attempt=call.attempts_before + info.attempt,
            outcome=outcome,
            status=reply.status if reply else None,
        )
        if reply is None:
            raise ApplicationError(
                error or "no answer",
                type=partners.REFUSED if outcome == "refused" else "PartnerUnreachable",
                non_retryable=outcome == "refused",
            )
        if outcome == "refused":
            raise ApplicationError(
                f"{call.connector} refused: {reply.status} {reply.text(200)}".strip(),
                type=partners.REFUSED,
                non_retryable=True,
            )
        if outcome == "failed":
            wait = parse_retry_after(reply.headers.get("Retry-After"), datetime.now(UTC))
            raise ApplicationError(
                f"{call.connector} answered {reply.status}",
                type="PartnerFailed",
                next_retry_delay=None
                if wait is None
                else min(timedelta(seconds=wait), partners.MAX_RETRY_AFTER),
            )
        answer = _json(reply)
        if adapter is not None:
            try:
                answer = adapter.answer(asked, reply.status, answer)
            except Exception as e:  # the partner took the call: its answer is kept as it came
                log.warning("partner.adapter_answer_failed", connector=call.connector, error=str(e))
        return CallResult(status=reply.status, body=answer)

    @staticmethod
    def _attempt(
        call: PartnerCall, url: str, reply: Reply | None, outcome: str, duration_ms: int, error: str | None
    ) -> dict[str, Any]:
        """The attempt as `GET /sessions/{id}/calls` shows it."""
        return {
            "tenant_id": call.tenant,
            "session_id": call.session_id,
            "connector": call.connector,
            "step": call.step,
            "idempotency_key": call.idempotency_key,
            "attempt": call.attempts_before + activity.info().attempt,
            "method": call.method,
            "url": url,
            "outcome": outcome,
            "status_code": reply.status if reply else None,
            "duration_ms": duration_ms,
            "response_excerpt": reply.text(EXCERPT) if reply else "",
            "error": error,
            "at": datetime.now(UTC),
        }


def _json(reply: Reply) -> Any:
    """The answer's JSON, when it is JSON and small enough to keep in the session."""
    if not reply.body or len(reply.body) > partners.MAX_RESULT:
        return None
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


@asynccontextmanager
async def _heartbeats() -> AsyncIterator[None]:
    """Heartbeat while the partner holds the request: a worker that dies is noticed in seconds."""

    async def beat() -> None:
        while True:  # not at once: a quick answer completes without a heartbeat's round trip first
            await asyncio.sleep(HEARTBEAT)
            activity.heartbeat()

    if activity.info().is_local:  # the inline attempt: bounded by its timeout, nothing to beat
        yield
        return
    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
