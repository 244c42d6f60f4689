"""Tenants and their API keys. A key is `ffk_<id>_<secret>`; only SHA-256 of the whole key is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from domain.errors import Conflict, FieldError, NotFound
from storage.engine import session_scope
from storage.tables import ApiKey, Tenant

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ADMIN = "admin"
SCOPES = (
    "sessions:read",
    "sessions:write",
    "processes:read",
    "processes:write",
    "events:read",
    "events:write",
    "webhooks:read",
    "webhooks:write",
    "push:read",
    "push:write",
    "network:read",
    "network:write",
    "options:read",
    "options:write",
    "orders:read",
    "orders:write",
    "connectors:read",
    "connectors:write",
    "logistics:read",
    "logistics:write",
    ADMIN,
)
DEFAULT_SCOPES = [s for s in SCOPES if s != ADMIN]


@dataclass(frozen=True)
class Principal:
    tenant: str
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or ADMIN in self.scopes

    def actor(self, given: str | None = None) -> str:
        """Who acts in a trail: the name the caller gave, else its API key."""
        return given or f"key:{self.key_id}"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_id(key: str) -> str | None:
    parts = key.split("_")
    return parts[1] if len(parts) == 3 and parts[0] == "ffk" and parts[1] and parts[2] else None


def check_scopes(scopes: list[str]) -> None:
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes {sorted(unknown)}; known: {', '.join(SCOPES)}")


def create_tenant(engine: Engine, tenant_id: str, name: str | None = None) -> Tenant:
    if not TENANT_ID.match(tenant_id):
        raise Conflict(
            [FieldError("INVALID_TENANT_ID", "tenant ids are 1-63 of a-z, 0-9 and '-'", "name")],
        )
    with session_scope(engine) as s:
        if s.get(Tenant, tenant_id):
            raise Conflict([FieldError("TENANT_EXISTS", f"tenant {tenant_id!r} exists already", "name")])
        tenant = Tenant(id=tenant_id, name=name or tenant_id, created_at=datetime.now(UTC))
        s.add(tenant)
    return tenant


def issue_key(
    engine: Engine, tenant_id: str, scopes: list[str] | None = None, label: str = "", key: str | None = None
) -> str:
    """Store a new key (or register the given one) and return it; the plaintext is never stored."""
    key = key or f"ffk_{secrets.token_hex(6)}_{secrets.token_urlsafe(24).replace('_', '-')}"
    key_id = _key_id(key)
    if key_id is None:
        raise ValueError("an API key has the form ffk_<id>_<secret>")
    check_scopes(scopes or [])
    with session_scope(engine) as s:
        s.add(
            ApiKey(
                id=key_id,
                tenant_id=tenant_id,
                key_hash=_hash(key),
                scopes=list(scopes or DEFAULT_SCOPES),
                label=label,
                created_at=datetime.now(UTC),
            )
        )
    return key


def authenticate(engine: Engine, key: str) -> Principal | None:
    key_id = _key_id(key)
    if key_id is None:
        return None
    with session_scope(engine) as s:
        row = s.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _hash(key)):
        return None
    return Principal(tenant=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes))


def ensure_tenant_with_key(engine: Engine, tenant_id: str, key: str) -> None:
    """Idempotent bootstrap of the development tenant and its key (used by `fulfillment dev`)."""
    with session_scope(engine) as s:
        if not s.get(Tenant, tenant_id):
            s.add(Tenant(id=tenant_id, name=tenant_id, created_at=datetime.now(UTC)))
        key_id = _key_id(key)
        existing = s.get(ApiKey, key_id) if key_id else None
    if existing is None:
        issue_key(engine, tenant_id, list(SCOPES), label="bootstrap", key=key)
    elif existing.key_hash != _hash(key) or existing.tenant_id != tenant_id:
        raise ValueError("the bootstrap API key's id is already used by another key")


def create_key(engine: Engine, tenant_id: str, scopes: list[str] | None, label: str) -> tuple[str, ApiKey]:
    """A new key of the tenant: the key (to show once) and its stored row (no secret in it)."""
    key = issue_key(engine, tenant_id, scopes, label=label)
    with session_scope(engine) as s:
        row = s.get(ApiKey, _key_id(key))
    assert row is not None
    return key, row


def list_keys(engine: Engine, tenant_id: str, limit: int, offset: int) -> tuple[list[ApiKey], int]:
    """A page of the tenant's keys, oldest first (revoked ones too), and how many there are."""
    with session_scope(engine) as s:
        query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
        total = s.exec(select(func.count()).select_from(query.subquery())).one()
        rows = s.exec(query.order_by(col(ApiKey.created_at), col(ApiKey.id)).offset(offset).limit(limit))
        return list(rows), int(total)


def revoke_key(engine: Engine, tenant_id: str, key_id: str, now: datetime) -> ApiKey:
    """Revoke one of the tenant's keys (again: nothing changes); another tenant's key is not found."""
    with session_scope(engine) as s:
        row = s.get(ApiKey, key_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound.one("API_KEY_NOT_FOUND", f"no API key {key_id!r}", "id")
        if row.revoked_at is None:
            row.revoked_at = now
        return row


def active_key_ids(engine: Engine, key_ids: Collection[str]) -> set[str]:
    """Those of `key_ids` that exist and are not revoked."""
    if not key_ids:
        return set()
    with session_scope(engine) as s:
        found = s.exec(
            select(ApiKey.id).where(col(ApiKey.id).in_(list(key_ids)), col(ApiKey.revoked_at).is_(None))
        )
        return set(found)


def list_tenants(engine: Engine) -> list[Tenant]:
    with session_scope(engine) as s:
        return list(s.exec(select(Tenant).order_by(Tenant.id)))
