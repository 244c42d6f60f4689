"""Domain errors carry a list of `{code, message, field}`, the shape of every error body of the API."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status the API answers with."""

    status = 400
    title = "Bad request"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        self.detail = detail or "; ".join(e.message for e in errors)
        super().__init__(self.detail)

    @staticmethod
    def not_found(what: str, key: str) -> DomainError:
        return NotFound([FieldError(f"{what.upper()}_NOT_FOUND", f"no {what} {key!r}", "id")])

    @staticmethod
    def forbidden(message: str) -> DomainError:
        return Forbidden([FieldError("FORBIDDEN", message, None)])


class InvalidDefinition(DomainError):
    status = 400
    title = "Invalid process definition"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
