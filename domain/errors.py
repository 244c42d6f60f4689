"""Domain errors, and the one codec that carries them through Temporal.

An error carries a list of `{code, message, field}` (the shape of every error body of the API) and
optional extra members for the problem body. Its kind (the subclass) says what went wrong; which
HTTP status that is, is decided in `api/errors.py` alone.

Workflows and activities raise `to_failure(e)`: a non-retryable `ApplicationError` of type
`DomainError`, since retrying a refused input never helps. `from_failure` (used by `clients/`)
turns it back into the same kind of error on the caller's side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from temporalio.exceptions import ApplicationError

FAILURE_TYPE = "DomainError"


@dataclass(frozen=True)
class FieldError:
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class DomainError(Exception):
    """A request the domain refuses as invalid; subclasses name other kinds of refusal."""

    def __init__(
        self, errors: list[FieldError], detail: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        self.errors = errors
        self.detail = detail or "; ".join(e.message for e in errors)
        self.extra = extra or {}
        super().__init__(self.detail)

    @classmethod
    def one(cls, code: str, message: str, field: str | None = None, **extra: Any) -> Self:
        """An error of this kind with a single `{code, message, field}`."""
        return cls([FieldError(code, message, field)], extra=extra)


class InvalidDefinition(DomainError):
    """A process definition that cannot run."""


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Conflict(DomainError):
    """Valid, but the current state does not allow it (a stale version, a closed order, a taken id)."""


class Unprocessable(DomainError):
    """Well-formed, but its content cannot be applied (quantities that do not add up)."""


class Unavailable(DomainError):
    """Nothing answered in time (no worker, the Temporal server down); the same request may be retried."""


KINDS: dict[str, type[DomainError]] = {
    k.__name__: k
    for k in (DomainError, InvalidDefinition, NotFound, Forbidden, Conflict, Unprocessable, Unavailable)
}


def kind_of(error: DomainError) -> type[DomainError]:
    """The error's kind: the nearest of `KINDS` among its classes (`StaleVersion` is a `Conflict`)."""
    return next(k for k in type(error).__mro__ if k in KINDS.values())


def to_failure(error: DomainError) -> ApplicationError:
    """The error as a Temporal failure: non-retryable, its kind, errors and extras in the details."""
    return ApplicationError(
        error.detail,
        {
            "kind": kind_of(error).__name__,
            "errors": [e.as_dict() for e in error.errors],
            "extra": error.extra,
        },
        type=FAILURE_TYPE,
        non_retryable=True,
    )


def from_failure(failure: BaseException | None) -> DomainError | None:
    """The domain error a failure (or one of its causes) carries, rebuilt as its kind; else None."""
    while failure is not None:
        if isinstance(failure, ApplicationError) and failure.type == FAILURE_TYPE and failure.details:
            details = failure.details[0]
            kind = KINDS.get(details.get("kind", ""), DomainError)
            errors = [FieldError(**e) for e in details.get("errors", [])]
            errors = errors or [FieldError("INVALID_REQUEST", failure.message)]
            return kind(errors, failure.message, details.get("extra"))
        failure = failure.__cause__
    return None
