"""The tenant's API keys: list, create (the key is shown once), revoke. Every route needs `admin`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, EngineDep, KeysDep
from domain.errors import DomainError
from domain.model import MAX_INT, CamelModel
from storage import tenants
from storage.tables import ApiKey

router = APIRouter(prefix="/api_keys", tags=["API keys"])
MAX_PAGE = 500


class KeyCreate(CamelModel):
    label: str = Field("", max_length=200)
    scopes: list[Annotated[str, Field(json_schema_extra={"enum": list(tenants.SCOPES)})]] | None = Field(
        None, min_length=1, description="Default: every scope but `admin`.", examples=[["sessions:read"]]
    )


class KeyOut(CamelModel):
    id: str
    label: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class KeyWithSecret(KeyOut):
    key: str = Field(description="Shown once: store it now. Send it as `Authorization: Bearer <key>`.")


class KeyPage(CamelModel):
    items: list[KeyOut]
    total: int
    limit: int
    offset: int


def _out(row: ApiKey) -> KeyOut:
    return KeyOut(
        id=row.id, label=row.label, scopes=row.scopes, created_at=row.created_at, revoked_at=row.revoked_at
    )


@router.get("", response_model=KeyPage)
async def list_keys(
    engine: EngineDep,
    p: Admin,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> KeyPage:
    """A page of the tenant's keys, oldest first, revoked ones included; never a key's secret."""
    rows, total = await run_in_threadpool(tenants.list_keys, engine, p.tenant, limit, offset)
    return KeyPage(items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("", status_code=201, response_model=KeyWithSecret)
async def create_key(body: KeyCreate, engine: EngineDep, p: Admin) -> KeyWithSecret:
    """A new key of this tenant; the answer carries the key itself, this once."""
    try:
        tenants.check_scopes(body.scopes or [])
    except ValueError as e:
        raise DomainError.one("UNKNOWN_SCOPE", str(e), "scopes") from None
    key, row = await run_in_threadpool(tenants.create_key, engine, p.tenant, body.scopes, body.label)
    return KeyWithSecret(**_out(row).model_dump(), key=key)


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: str, engine: EngineDep, keys: KeysDep, p: Admin) -> KeyOut:
    """Revoke a key: requests with it answer 401 at once on this replica and within
    `FULFILLMENT_AUTH_CACHE_SECONDS` on others; its live-feed connections are closed within
    `FULFILLMENT_LIVE_FEED_AUTH_RECHECK_SECONDS`. Revoking the key of this very request is allowed."""
    row = await run_in_threadpool(tenants.revoke_key, engine, p.tenant, key_id, datetime.now(UTC))
    keys.forget(key_id)
    return _out(row)
