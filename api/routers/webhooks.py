"""Webhook subscriptions: manage them, rotate secrets, read attempts, recover and test deliveries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Response
from pydantic import Field, field_validator
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, PublisherDep, SettingsDep, require
from domain.errors import Conflict, DomainError
from domain.events import known_filter
from domain.model import CamelModel
from egress.urls import UnsafeUrl, check_url
from storage import webhooks
from storage.tables import WebhookAttemptRow, WebhookRow
from storage.tenants import Principal

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Reader = Annotated[Principal, Depends(require("webhooks:read"))]
Writer = Annotated[Principal, Depends(require("webhooks:write"))]


def _check_types(value: list[str] | None) -> list[str] | None:
    for t in value or []:
        if not known_filter(t):
            raise ValueError(f"{t!r} is not an event type (see /event_types)")
    return value


class WebhookCreate(CamelModel):
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[str] = Field(
        default_factory=list, description="Empty: every type; `session.*`: a family."
    )
    description: str = Field("", max_length=500)

    _types = field_validator("event_types")(_check_types)


class WebhookPatch(CamelModel):
    url: str | None = Field(None, min_length=1, max_length=2000)
    event_types: list[str] | None = None
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None

    _types = field_validator("event_types")(_check_types)


class WebhookOut(CamelModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="Shown once: keep it to verify signatures.")
    previous_secret_expires_at: datetime | None = None


class Attempt(CamelModel):
    id: int
    event_id: str
    event_type: str
    attempt: int
    outcome: str
    status_code: int | None
    response_excerpt: str
    error: str | None
    duration_ms: int
    at: datetime


class Recover(CamelModel):
    since: datetime


M = TypeVar("M", bound=CamelModel)


def _from_row(model: type[M], row: SQLModel) -> M:
    """The API model's fields of a table row (secrets and bookkeeping stay behind)."""
    return model.model_validate(row.model_dump(include=set(model.model_fields)))


def _out(row: WebhookRow) -> WebhookOut:
    return _from_row(WebhookOut, row)


async def _safe(url: str, allow_private: bool) -> None:
    try:
        await check_url(url, allow_private)
    except UnsafeUrl as e:
        raise DomainError.one("UNSAFE_URL", str(e), "url") from None


@router.post("", status_code=201, response_model=WebhookWithSecret)
async def create_webhook(body: WebhookCreate, engine: EngineDep, settings: SettingsDep, p: Writer) -> Any:
    """Subscribe an endpoint; the answer carries its `whsec_` signing secret, shown this once."""
    await _safe(body.url, settings.webhook_allow_private)
    row = await run_in_threadpool(
        webhooks.create, engine, p.tenant, body.url, body.event_types, body.description, datetime.now(UTC)
    )
    return _from_row(WebhookWithSecret, row)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(engine: EngineDep, p: Reader) -> list[WebhookOut]:
    return [_out(r) for r in await run_in_threadpool(webhooks.list_all, engine, p.tenant)]


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, engine: EngineDep, p: Reader) -> WebhookOut:
    return _out(await run_in_threadpool(webhooks.get, engine, p.tenant, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: str, body: WebhookPatch, engine: EngineDep, settings: SettingsDep, p: Writer
) -> WebhookOut:
    """Change the URL, filter or description; `enabled: true` re-enables a disabled endpoint."""
    if body.url is not None:
        await _safe(body.url, settings.webhook_allow_private)
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    row = await run_in_threadpool(webhooks.update, engine, p.tenant, webhook_id, changes, datetime.now(UTC))
    return _out(row)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, engine: EngineDep, p: Writer) -> Response:
    await run_in_threadpool(webhooks.delete, engine, p.tenant, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate_secret", response_model=WebhookWithSecret)
async def rotate_secret(webhook_id: str, engine: EngineDep, p: Writer) -> Any:
    """A new secret; the old one keeps signing (beside the new) for 24 hours."""
    row = await run_in_threadpool(webhooks.rotate_secret, engine, p.tenant, webhook_id, datetime.now(UTC))
    return _from_row(WebhookWithSecret, row)


@router.get("/{webhook_id}/attempts", response_model=list[Attempt])
async def list_attempts(webhook_id: str, engine: EngineDep, p: Reader) -> list[Attempt]:
    """Delivery attempts, newest first: status code, response excerpt, duration, attempt number."""
    rows: list[WebhookAttemptRow] = await run_in_threadpool(webhooks.attempts, engine, p.tenant, webhook_id)
    return [_from_row(Attempt, r) for r in rows]


@router.post("/{webhook_id}/recover", status_code=202)
async def recover(
    webhook_id: str, body: Recover, engine: EngineDep, pub: PublisherDep, p: Writer
) -> dict[str, int]:
    """Send again, in order, every event since `since` that this endpoint takes."""
    row = await run_in_threadpool(webhooks.get, engine, p.tenant, webhook_id)
    if not row.enabled:
        raise Conflict.one("WEBHOOK_DISABLED", "enable the webhook first (PATCH enabled: true)", "enabled")
    first = await run_in_threadpool(webhooks.rewind, engine, p.tenant, webhook_id, body.since)
    await asyncio.gather(*(pub.poke_webhook(p.tenant, webhook_id, s, seq) for s, seq in first.items()))
    return {"subjects": len(first)}


@router.post("/{webhook_id}/test", status_code=202)
async def send_test(webhook_id: str, engine: EngineDep, pub: PublisherDep, p: Writer) -> dict[str, str]:
    """Send a `webhook.test` event to this endpoint only."""
    event = await run_in_threadpool(
        webhooks.append_test_event, engine, p.tenant, webhook_id, datetime.now(UTC)
    )
    await pub.publish(event)
    return {"eventId": event.id}
