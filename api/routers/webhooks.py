"""Webhook subscriptions: manage them, rotate secrets, read attempts, recover and test deliveries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator
from pydantic.json_schema import SkipJsonSchema
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, PageDep, PublisherDep, SettingsDep, refuse_unsafe_url, require
from api.idempotency import IdempotencyKey, idempotent, request_hash
from domain.errors import Conflict
from domain.events import CUSTOM_TYPE, FILTERS, known_filter
from domain.model import MAX_INT, CamelModel, PublicUrl, Timestamp
from storage import webhooks
from storage.tables import WebhookAttemptRow, WebhookRow
from storage.tenants import Principal

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
RECOVER_DAYS = 30
RECOVER_BATCH = 10_000
Reader = Annotated[Principal, Depends(require("webhooks:read"))]
Writer = Annotated[Principal, Depends(require("webhooks:write"))]


def _check_types(value: list[str] | None) -> list[str] | None:
    for t in value or []:
        if not known_filter(t):
            raise ValueError(f"{t!r} is not an event type (see /event_types)")
    return value


EventFilter = Annotated[
    str, Field(json_schema_extra={"anyOf": [{"enum": FILTERS}, {"pattern": f"^{CUSTOM_TYPE}$"}]})
]
TYPES = "Empty: every type; `session.*`: a family."


class WebhookCreate(CamelModel):
    url: PublicUrl
    event_types: list[EventFilter] = Field(default_factory=list, max_length=100, description=TYPES)
    description: str = Field("", max_length=500)

    _types = field_validator("event_types")(_check_types)


class WebhookPatch(CamelModel):
    """Only the fields sent change; a field may be left out, but not set to null."""

    url: PublicUrl | SkipJsonSchema[None] = None
    event_types: list[EventFilter] | SkipJsonSchema[None] = Field(None, max_length=100, description=TYPES)
    description: str | SkipJsonSchema[None] = Field(None, max_length=500)
    enabled: bool | SkipJsonSchema[None] = None

    _types = field_validator("event_types")(_check_types)

    @field_validator("url", "event_types", "description", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out to keep it; null is not a value")
        return value


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
    since: Timestamp = Field(description=f"Events since this time (at most {RECOVER_DAYS} days back).")
    after_cursor: int = Field(0, ge=0, le=MAX_INT, description="The `nextCursor` of the previous call.")


class Recovered(CamelModel):
    since: datetime = Field(description=f"The `since` applied: at most {RECOVER_DAYS} days back.")
    subjects: int = Field(description="Subjects whose deliveries start again.")
    events: int = Field(description=f"Events looked at (at most {RECOVER_BATCH} a call).")
    next_cursor: int | None = Field(
        description="Null when everything since `since` is covered; else call again with it as `afterCursor`."
    )


M = TypeVar("M", bound=CamelModel)


def _from_row(model: type[M], row: SQLModel) -> M:
    """The API model's fields of a table row (secrets and bookkeeping stay behind)."""
    return model.model_validate(row.model_dump(include=set(model.model_fields)))


def _out(row: WebhookRow) -> WebhookOut:
    return _from_row(WebhookOut, row)


@router.post("", status_code=201, response_model=WebhookWithSecret)
async def create_webhook(
    request: Request,
    body: WebhookCreate,
    engine: EngineDep,
    settings: SettingsDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Subscribe an endpoint; the answer carries its `whsec_` signing secret, shown this once (and
    replayed to a retry with the same Idempotency-Key)."""

    async def respond() -> tuple[int, Any]:
        await refuse_unsafe_url(body.url, settings.webhook_allow_private, "url")
        row = await run_in_threadpool(
            webhooks.create, engine, p.tenant, body.url, body.event_types, body.description, datetime.now(UTC)
        )
        return 201, _from_row(WebhookWithSecret, row).model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(engine: EngineDep, p: Reader, page: PageDep) -> list[WebhookOut]:
    rows = await run_in_threadpool(webhooks.list_all, engine, p.tenant, page.limit, page.offset)
    return [_out(r) for r in rows]


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, engine: EngineDep, p: Reader) -> WebhookOut:
    return _out(await run_in_threadpool(webhooks.get, engine, p.tenant, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: str, body: WebhookPatch, engine: EngineDep, settings: SettingsDep, p: Writer
) -> WebhookOut:
    """Change the URL, filter or description; `enabled: true` re-enables a disabled endpoint."""
    if body.url is not None:
        await refuse_unsafe_url(body.url, settings.webhook_allow_private, "url")
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
async def list_attempts(webhook_id: str, engine: EngineDep, p: Reader, page: PageDep) -> list[Attempt]:
    """Delivery attempts, newest first: status code, response excerpt, duration, attempt number."""
    rows: list[WebhookAttemptRow] = await run_in_threadpool(
        webhooks.attempts, engine, p.tenant, webhook_id, page.limit, page.offset
    )
    return [_from_row(Attempt, r) for r in rows]


@router.post("/{webhook_id}/recover", status_code=202, response_model=Recovered)
async def recover(
    webhook_id: str, body: Recover, engine: EngineDep, pub: PublisherDep, p: Writer
) -> Recovered:
    """Send again, in order, the events since `since` that this endpoint takes (an older `since` is
    taken as 30 days back): up to 10,000 events a call; call again with `afterCursor` for the rest."""
    row = await run_in_threadpool(webhooks.get, engine, p.tenant, webhook_id)
    if not row.enabled:
        raise Conflict.one("WEBHOOK_DISABLED", "enable the webhook first (PATCH enabled: true)", "enabled")
    since = body.since if body.since.tzinfo else body.since.replace(tzinfo=UTC)
    since = max(since, datetime.now(UTC) - timedelta(days=RECOVER_DAYS))
    rewound = await run_in_threadpool(
        webhooks.rewind, engine, p.tenant, webhook_id, since, body.after_cursor, RECOVER_BATCH
    )
    pokes = asyncio.Semaphore(16)

    async def poke(subject: str, sequence: int) -> None:
        async with pokes:
            await pub.poke_webhook(p.tenant, webhook_id, subject, sequence)

    await asyncio.gather(*(poke(s, seq) for s, seq in rewound.first.items()))
    return Recovered(
        since=since, subjects=len(rewound.first), events=rewound.events, next_cursor=rewound.next_cursor
    )


@router.post("/{webhook_id}/test", status_code=202)
async def send_test(webhook_id: str, engine: EngineDep, pub: PublisherDep, p: Writer) -> dict[str, str]:
    """Send a `webhook.test` event to this endpoint only."""
    event = await run_in_threadpool(
        webhooks.append_test_event, engine, p.tenant, webhook_id, datetime.now(UTC)
    )
    await pub.publish(event)
    return {"eventId": event.id}
