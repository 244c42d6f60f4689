"""One error body everywhere: RFC 9457 problem+json with an `errors` list of `{code, message, field}`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

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
from domain.model import HTTP_BASE_URL, HTTP_URL
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
    413: "Content too large",
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


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details with the errors, each naming its field.",
    "required": ["type", "title", "status", "detail", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                },
            },
        },
    },
    "additionalProperties": True,
}
# What every operation may answer besides its success; authenticated ones add 401 and 403.
_ANSWERS = {
    "400": "Invalid input; `errors` names each offending field.",
    "404": "No such resource for this tenant (or a referenced one does not exist).",
    "405": "The path does not take this method (`Allow` lists those it takes).",
    "409": "The current state does not allow it (a stale version, a closed resource, a key in use).",
    "413": "The request body is over the size limit.",
    "422": "Well-formed, but its content cannot be applied.",
    "503": "Temporal or a worker did not answer in time; the request may be retried.",
}
_AUTH_ANSWERS = {"401": "No valid API key.", "403": "The API key lacks the scope the operation needs."}


def document(app: FastAPI, *refinements: Callable[[dict[str, Any]], None]) -> None:
    """State in the OpenAPI schema the error answers every operation can give, as problem+json, in
    place of FastAPI's own 422 validation shape, which this API never sends (it answers 400); then
    let each refinement state what only the running deployment knows."""

    def schema() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Problem"] = PROBLEM_SCHEMA
        problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                answers = {**_ANSWERS, **(_AUTH_ANSWERS if operation.get("security") else {})}
                responses = operation.setdefault("responses", {})
                for status, text in answers.items():
                    own = responses.get(status, {}).get("description")  # what a route says of it
                    described = own if own and own != "Validation Error" else text
                    responses[status] = {"description": described, "content": problem_content}
        for refine in refinements:
            refine(spec)
        app.openapi_schema = spec
        return spec

    app.openapi = schema  # type: ignore[method-assign]


def _methods(request: Request) -> list[str]:
    """The methods some route takes at this path (routers match by method, so ask each in turn)."""
    return [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(
            r.matches({**request.scope, "method": method})[0] == Match.FULL for r in request.app.router.routes
        )
    ]


def _message(error: Any) -> str:
    """Pydantic's message, but a URL's pattern (a long regex) said in words."""
    pattern = error.get("ctx", {}).get("pattern") if error.get("type") == "string_pattern_mismatch" else None
    if pattern == HTTP_URL:
        return "must be an absolute http(s) URL: a host name or IPv4 address, an optional port, a path"
    if pattern == HTTP_BASE_URL:
        return (
            "must be an absolute http(s) URL: a host name or IPv4 address, an optional port, a path; "
            "no query or fragment"
        )
    return str(error.get("msg", "invalid"))


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
            if e.get("type") == "json_invalid":  # its location is a character offset, not a field
                errors.append(FieldError("INVALID_JSON", f"the body is not valid JSON: {e.get('msg')}"))
                continue
            loc = tuple(e.get("loc", ()))
            where = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
            errors.append(FieldError("VALIDATION_ERROR", _message(e), field_path(where) or None))
        return problem(400, "Bad request", errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        title = _TITLES.get(exc.status_code, "Error")
        code = "BODY_TOO_LARGE" if exc.status_code == 413 else title.upper().replace(" ", "_")
        response = problem(exc.status_code, title, [FieldError(code, str(exc.detail))])
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method the path takes, not only the first route's
            response.headers["Allow"] = ", ".join(_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unhandled_error", error=str(exc))
        return problem(500, "Internal server error", [FieldError("INTERNAL", "an unexpected error occurred")])
