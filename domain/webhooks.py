"""What the webhook delivery workflow and its activities exchange."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from domain.events import Event
from domain.model import CamelModel

Outcome = Literal["delivered", "failed", "disabled", "gave_up"]
FAILING_LIMIT_DAYS = 5


class WebhookTarget(CamelModel):
    """One delivery workflow serves one subject for one webhook, so its events go out in order."""

    tenant: str
    webhook_id: str
    subject: str
    schedule: list[int]


class PendingEvents(CamelModel):
    enabled: bool
    events: list[Event]


class DeliveryRequest(CamelModel):
    tenant: str
    webhook_id: str
    event: Event
    attempt: int
    final: bool
    now: datetime  # workflow time: what "failing for 5 days" is measured in


class DeliveryResult(CamelModel):
    outcome: Outcome
    status_code: int | None = None
    retry_after_seconds: float | None = None
