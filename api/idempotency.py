"""`Idempotency-Key` on POST: the same key and body replay the first response; another body is 422.

Side effects stay single even when two retries race: routes derive workflow ids from the key, so
the second start finds the first workflow instead of making another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from domain.errors import FieldError, Unprocessable
from storage import idempotency

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


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
    if key:
        stored = await run_in_threadpool(idempotency.find, engine, tenant, key)
        if stored is not None:
            if stored.request_hash != fingerprint:
                raise Unprocessable(
                    [
                        FieldError(
                            "IDEMPOTENCY_KEY_REUSED",
                            "this Idempotency-Key was used with a different request",
                            "Idempotency-Key",
                        )
                    ]
                )
            return JSONResponse(
                stored.response, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"}
            )
    status, body = await respond()
    if key:
        await run_in_threadpool(idempotency.save, engine, tenant, key, fingerprint, status, body)
    return JSONResponse(body, status_code=status)
