"""One error body everywhere: RFC 9457 problem+json with an `errors` list of `{code, message, field}`."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from domain.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    InvalidDefinition,
    NotFound,
    Unavailable,
    Unprocessable,
    kind_of,
)
from domain.process import field_path

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, errors: list[FieldError], detail: str | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail or "; ".join(e.message for e in errors) or title,
        "errors": [e.as_dict() for e in errors],
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


class Unauthenticated(Exception):
    """No valid credentials: a 401, the one refusal that is about HTTP rather than the domain."""


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable content",
    503: "Service unavailable",
}


# The one place a kind of domain error becomes an HTTP status.
STATUS: dict[type[DomainError], tuple[int, str]] = {
    DomainError: (400, "Bad request"),
    InvalidDefinition: (400, "Invalid process definition"),
    Forbidden: (403, "Forbidden"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    Unprocessable: (422, "Unprocessable content"),
    Unavailable: (503, "Service unavailable"),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return problem(401, "Unauthorized", [FieldError("UNAUTHENTICATED", str(exc))])

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        status, title = STATUS[kind_of(exc)]
        return problem(status, title, exc.errors, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = tuple(e.get("loc", ()))
            where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
            errors.append(FieldError("VALIDATION_ERROR", e.get("msg", "invalid"), field_path(where) or None))
        return problem(400, "Bad request", errors)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        title = _TITLES.get(exc.status_code, "Error")
        code = title.upper().replace(" ", "_")
        return problem(exc.status_code, title, [FieldError(code, str(exc.detail))])

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled_error", error=str(exc))
        return problem(500, "Internal server error", [FieldError("INTERNAL", "an unexpected error occurred")])
