"""Connectors: a tenant's partner systems, by name.

Credentials (the whole `auth` document) and the inbound secrets are stored encrypted
(`storage/secrets.py`); the `Connector`s this module hands out carry them decrypted. Deleting a
connector keeps its partner events and calls (they are history)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain import ids
from domain.connectors import DEFAULT_TIMEOUT, Connector
from domain.errors import Conflict, NotFound
from storage import secrets as at_rest
from storage.engine import session_scope
from storage.secrets import Keyring
from storage.tables import ConnectorRow
from storage.webhooks import ROTATION_OVERLAP, aware, new_secret

FIELDS = ("name", "kind", "base_url", "auth", "timeout_seconds", "headers", "adapter")


def _not_found(connector_id: str) -> NotFound:
    return NotFound.one("CONNECTOR_NOT_FOUND", f"no connector {connector_id!r}", "id")


def _name_taken(name: str) -> Conflict:
    return Conflict.one("CONNECTOR_NAME_TAKEN", f"a connector named {name!r} exists already", "name")


def _complete(auth: dict[str, Any]) -> dict[str, Any]:
    """A standard-webhooks auth given without a secret gets one."""
    if auth.get("type") == "standard-webhooks" and not auth.get("secret"):
        return {**auth, "secret": new_secret()}
    return dict(auth)


def _plain(row: ConnectorRow, keyring: Keyring | None = None, now: datetime | None = None) -> Connector:
    """The row as a `Connector`, secrets decrypted: the inbound secrets the current one first, then the
    previous one while its overlap lasts."""
    keyring = keyring or at_rest.current()
    now = now or datetime.now(UTC)
    inbound = [keyring.decrypt(row.inbound_secret)]
    expires = row.previous_inbound_secret_expires_at
    if row.previous_inbound_secret and expires and aware(expires) > now:
        inbound.append(keyring.decrypt(row.previous_inbound_secret))
    return Connector(
        id=row.id,
        tenant=row.tenant_id,
        name=row.name,
        kind=row.kind,
        base_url=row.base_url,
        auth=keyring.decrypt_json(row.auth),
        timeout_seconds=row.timeout_seconds,
        headers=dict(row.headers),
        inbound_secrets=inbound,
        adapter=row.adapter,
        created_at=row.created_at,
        updated_at=row.updated_at,
        previous_inbound_secret_expires_at=expires if len(inbound) > 1 else None,
    )


def _own(s: Session, tenant: str, connector_id: str) -> ConnectorRow:
    """The tenant's connector (another tenant's is not found either)."""
    row = s.get(ConnectorRow, connector_id)
    if row is None or row.tenant_id != tenant:
        raise _not_found(connector_id)
    return row


def _named(s: Session, tenant: str, name: str) -> ConnectorRow | None:
    query = select(ConnectorRow).where(ConnectorRow.tenant_id == tenant, ConnectorRow.name == name)
    return s.exec(query).first()


@contextmanager
def _unique_name(name: str | None) -> Iterator[None]:
    """Two requests taking one name at once: the unique index refuses the second, a 409 too."""
    try:
        yield
    except IntegrityError:
        if name is None:
            raise
        raise _name_taken(name) from None


def create(
    engine: Engine,
    tenant: str,
    name: str,
    kind: str,
    base_url: str,
    auth: dict[str, Any],
    now: datetime,
    timeout_seconds: float = DEFAULT_TIMEOUT,
    headers: dict[str, str] | None = None,
    keyring: Keyring | None = None,
    adapter: str | None = None,
) -> Connector:
    """A new connector with a new inbound secret; a standard-webhooks auth without a secret gets one.
    Conflict (field `name`) when the tenant has a connector of that name."""
    keyring = keyring or at_rest.current()
    row = ConnectorRow(
        id=ids.new_connector_id(),
        tenant_id=tenant,
        name=name,
        kind=kind,
        base_url=base_url,
        auth=keyring.encrypt_json(_complete(auth)),
        inbound_secret=keyring.encrypt(new_secret()),
        timeout_seconds=timeout_seconds,
        headers=dict(headers or {}),
        adapter=adapter,
        created_at=now,
        updated_at=now,
    )
    with _unique_name(name), session_scope(engine) as s:
        if _named(s, tenant, name) is not None:
            raise _name_taken(name)
        s.add(row)
    return _plain(row, keyring, now)


def get(
    engine: Engine,
    tenant: str,
    connector_id: str,
    keyring: Keyring | None = None,
    now: datetime | None = None,
) -> Connector | None:
    with session_scope(engine) as s:
        row = s.get(ConnectorRow, connector_id)
    return _plain(row, keyring, now) if row is not None and row.tenant_id == tenant else None


def by_name(
    engine: Engine, tenant: str, name: str, keyring: Keyring | None = None, now: datetime | None = None
) -> Connector | None:
    with session_scope(engine) as s:
        row = _named(s, tenant, name)
    return _plain(row, keyring, now) if row is not None else None


def names(engine: Engine, tenant: str) -> set[str]:
    """The names of the tenant's connectors (what process definitions' `call` steps may name)."""
    with session_scope(engine) as s:
        return set(s.exec(select(ConnectorRow.name).where(ConnectorRow.tenant_id == tenant)))


def find_any_tenant(
    engine: Engine, connector_id: str, keyring: Keyring | None = None, now: datetime | None = None
) -> Connector | None:
    """The connector with this id, whichever tenant's (inbound events name only the connector)."""
    with session_scope(engine) as s:
        row = s.get(ConnectorRow, connector_id)
    return _plain(row, keyring, now) if row is not None else None


def of_kind(engine: Engine, tenant: str, kind: str, keyring: Keyring | None = None) -> list[Connector]:
    """The tenant's connectors of a kind (its carriers, say), by name."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(ConnectorRow)
            .where(ConnectorRow.tenant_id == tenant, ConnectorRow.kind == kind)
            .order_by(col(ConnectorRow.name))
        ).all()
    return [_plain(r, keyring) for r in rows]


def list_all(
    engine: Engine, tenant: str, limit: int, offset: int, keyring: Keyring | None = None
) -> list[Connector]:
    with session_scope(engine) as s:
        rows = s.exec(
            select(ConnectorRow)
            .where(ConnectorRow.tenant_id == tenant)
            .order_by(col(ConnectorRow.created_at), col(ConnectorRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
    return [_plain(r, keyring) for r in rows]


def update(
    engine: Engine,
    tenant: str,
    connector_id: str,
    changes: dict[str, Any],
    now: datetime,
    keyring: Keyring | None = None,
) -> Connector:
    """Change any of name, kind, base_url, auth (replaced whole; a standard-webhooks one without a
    secret gets one), timeout_seconds, headers and adapter. NotFound; Conflict (field `name`) for a name the
    tenant's other connector has."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise ValueError(f"not a connector field: {sorted(unknown)}")
    keyring = keyring or at_rest.current()
    name = changes.get("name")
    with _unique_name(name), session_scope(engine) as s:
        row = _own(s, tenant, connector_id)
        if name is not None and name != row.name and _named(s, tenant, name) is not None:
            raise _name_taken(name)
        for field, value in changes.items():
            if field == "auth":
                value = keyring.encrypt_json(_complete(value))
            elif field == "headers":
                value = dict(value)
            setattr(row, field, value)
        row.updated_at = now
    return _plain(row, keyring, now)


def delete(engine: Engine, tenant: str, connector_id: str) -> None:
    """Delete the connector; its partner events and calls stay."""
    with session_scope(engine) as s:
        s.delete(_own(s, tenant, connector_id))


def rotate_secret(
    engine: Engine, tenant: str, connector_id: str, now: datetime, keyring: Keyring | None = None
) -> Connector:
    """A new inbound secret; the current one keeps verifying beside it for `ROTATION_OVERLAP` (as a
    webhook's previous secret keeps signing)."""
    keyring = keyring or at_rest.current()
    with session_scope(engine) as s:
        row = _own(s, tenant, connector_id)
        row.previous_inbound_secret = keyring.seal(row.inbound_secret)
        row.previous_inbound_secret_expires_at = now + ROTATION_OVERLAP
        row.inbound_secret, row.updated_at = keyring.encrypt(new_secret()), now
    return _plain(row, keyring, now)


def reencrypt(engine: Engine, keyring: Keyring, legacy_only: bool = False) -> at_rest.Rewritten:
    """Encrypt every connector's credentials and inbound secrets under the keyring's first key, or with
    `legacy_only` just those stored in plaintext. A row no key decrypts is left as it is and named."""
    with session_scope(engine) as s:
        stored = s.exec(
            select(
                ConnectorRow.id,
                ConnectorRow.auth,
                ConnectorRow.inbound_secret,
                ConnectorRow.previous_inbound_secret,
            )
        ).all()
    todo = [
        connector_id
        for connector_id, auth, inbound, previous in stored
        if not legacy_only
        or not keyring.is_encrypted_json(dict(auth))
        or not all(keyring.is_encrypted(v) for v in (inbound, previous) if v)
    ]
    change, change_json = (
        (keyring.seal, keyring.seal_json) if legacy_only else (keyring.rewrap, keyring.rewrap_json)
    )

    def rewrite(row: ConnectorRow) -> None:  # all or nothing: a failing one leaves the row as it was
        auth = change_json(row.auth)
        inbound = change(row.inbound_secret)
        previous = change(row.previous_inbound_secret) if row.previous_inbound_secret else None
        row.auth, row.inbound_secret, row.previous_inbound_secret = auth, inbound, previous

    return at_rest.rewrite_each(engine, ConnectorRow, todo, rewrite, "connector")
