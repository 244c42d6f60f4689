"""Request body limits: a body over the limit is refused with 413 before the app parses it.

A declared Content-Length over the limit is refused at once, as problem+json; a body without one
(chunked) is counted as it arrives by Starlette's body-limit middleware, whose overflow FastAPI
answers with the same 413. Bulk network writes have a limit of their own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware.body_limit import RequestBodyLimitMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BULK = {("PUT", "/locations"), ("PUT", "/inventory")}


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int, bulk_limit: int) -> None:
        self.limit, self.bulk_limit = limit, bulk_limit
        self.counted = RequestBodyLimitMiddleware(app, limit)
        self.counted_bulk = RequestBodyLimitMiddleware(app, bulk_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.counted(scope, receive, send)
            return
        bulk = (scope["method"], scope["path"]) in BULK
        limit = self.bulk_limit if bulk else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        await (self.counted_bulk if bulk else self.counted)(scope, receive, send)


async def _refuse(send: Send, limit: int) -> None:
    message = f"the request body is larger than {limit} bytes"
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content too large",
            "status": 413,
            "detail": message,
            "errors": [{"code": "BODY_TOO_LARGE", "message": message, "field": None}],
        }
    ).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
