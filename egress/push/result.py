"""What a provider said about one push."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["sent", "gone", "retry", "rejected"]


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome  # gone: the token is dead; retry: try later; rejected: fix the request, not a retry
    status: int | None
    detail: str = ""


def by_status(
    status: int, detail: str, ok: tuple[int, ...] = (200,), gone: tuple[int, ...] = (410,)
) -> SendResult:
    if status in ok:
        return SendResult("sent", status, detail)
    if status in gone:
        return SendResult("gone", status, detail)
    if status == 429 or status >= 500:
        return SendResult("retry", status, detail)
    return SendResult("rejected", status, detail)
