"""Tenants and their API keys. A key is `ffk_<id>_<secret>`; only SHA-256 of the whole key is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from domain.errors import Conflict, FieldError
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
    "webhooks:read",
    "webhooks:write",
    "network:read",
    "network:write",
    "options:read",
    "options:write",
    "orders:read",
    "orders:write",
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


def list_tenants(engine: Engine) -> list[Tenant]:
    with session_scope(engine) as s:
        return list(s.exec(select(Tenant).order_by(Tenant.id)))
