"""`Idempotency-Key` on every request that creates something: the same key and body replay the first
answer (with `Idempotent-Replayed: true`); another body is 422; the same key while the first request
still runs is 409. The key is claimed (inserted) before the request runs, so two racing retries never
both run. A request that fails without an answer gives its claim up, so a retry runs it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from domain.errors import Conflict, Unprocessable
from storage import idempotency

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Makes a retry safe: the first answer is replayed for the same key and body.",
    ),
]


def request_hash(request: Request, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


async def idempotent(
    engine: Engine,
    tenant: str,
    key: str | None,
    fingerprint: str,
    respond: Callable[[], Awaitable[tuple[int, Any]]],
) -> JSONResponse:
    """Run `respond` once per key; replay its stored answer for a retry of the same request."""
    if not key:
        status, body = await respond()
        return JSONResponse(body, status_code=status)
    claim = await run_in_threadpool(idempotency.claim, engine, tenant, key, fingerprint, datetime.now(UTC))
    if not claim.won:
        if claim.request_hash != fingerprint:
            message = "this Idempotency-Key was used with a different request"
            raise Unprocessable.one("IDEMPOTENCY_KEY_REUSED", message, "Idempotency-Key")
        if claim.in_progress:
            message = "a request with this Idempotency-Key is still running; retry in a moment"
            raise Conflict.one("IDEMPOTENCY_KEY_IN_USE", message, "Idempotency-Key")
        return JSONResponse(
            claim.response, status_code=claim.status_code, headers={"Idempotent-Replayed": "true"}
        )
    try:
        status, body = await respond()
    except BaseException:
        await run_in_threadpool(idempotency.release, engine, tenant, key)
        raise
    await run_in_threadpool(idempotency.complete, engine, tenant, key, status, body)
    return JSONResponse(body, status_code=status)
