"""Push applications and device tokens.

Application credentials are stored encrypted (`storage/secrets.py`); the rows this module hands out
carry them decrypted, as detached copies that are never written back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from domain.push import DeviceTokenCreate
from storage import secrets as at_rest
from storage.engine import fetch, session_scope
from storage.secrets import Keyring
from storage.tables import DeviceTokenRow, PushApplicationRow


def _plain(row: PushApplicationRow, keyring: Keyring | None = None) -> PushApplicationRow:
    """A detached copy of a stored row with its credentials decrypted."""
    credentials = (keyring or at_rest.current()).decrypt_json(row.credentials)
    return PushApplicationRow(**{**row.model_dump(), "credentials": credentials})


def create_application(
    engine: Engine,
    tenant: str,
    platform: str,
    name: str,
    credentials: dict[str, Any],
    now: datetime,
    keyring: Keyring | None = None,
) -> PushApplicationRow:
    row = PushApplicationRow(
        tenant_id=tenant,
        id="app_" + uuid.uuid4().hex[:20],
        platform=platform,
        name=name,
        credentials=(keyring or at_rest.current()).encrypt_json(credentials),
        created_at=now,
    )
    with session_scope(engine) as s:
        s.add(row)
    return PushApplicationRow(**{**row.model_dump(), "credentials": credentials})


def get_application(
    engine: Engine, tenant: str, application_id: str, keyring: Keyring | None = None
) -> PushApplicationRow:
    with session_scope(engine) as s:
        row = fetch(
            s,
            PushApplicationRow,
            (tenant, application_id),
            "APPLICATION_NOT_FOUND",
            "application",
            "applicationId",
        )
    return _plain(row, keyring)


def list_applications(engine: Engine, tenant: str, limit: int, offset: int) -> list[PushApplicationRow]:
    with session_scope(engine) as s:
        query = select(PushApplicationRow).where(PushApplicationRow.tenant_id == tenant)
        query = query.order_by(col(PushApplicationRow.created_at), col(PushApplicationRow.id))
        rows = s.exec(query.offset(offset).limit(limit)).all()
    return [_plain(r) for r in rows]


def reencrypt(engine: Engine, keyring: Keyring, legacy_only: bool = False) -> at_rest.Rewritten:
    """Encrypt every application's credentials under the keyring's first key, or with `legacy_only` just
    those stored in plaintext before encryption. A row no key decrypts is left as it is and named."""
    with session_scope(engine) as s:
        stored = s.exec(
            select(PushApplicationRow.tenant_id, PushApplicationRow.id, PushApplicationRow.credentials)
        ).all()
    todo = [
        (tenant, app_id)
        for tenant, app_id, credentials in stored
        if not legacy_only or not keyring.is_encrypted_json(dict(credentials))
    ]
    change = keyring.seal_json if legacy_only else keyring.rewrap_json

    def rewrite(row: PushApplicationRow) -> None:
        row.credentials = change(row.credentials)

    return at_rest.rewrite_each(engine, PushApplicationRow, todo, rewrite, "push application")


def delete_application(engine: Engine, tenant: str, application_id: str) -> None:
    """Deregister the application and unsubscribe its devices."""
    with session_scope(engine) as s:
        s.delete(
            fetch(s, PushApplicationRow, (tenant, application_id), "APPLICATION_NOT_FOUND", "application")
        )
        tokens = select(DeviceTokenRow).where(
            DeviceTokenRow.tenant_id == tenant, DeviceTokenRow.application_id == application_id
        )
        for token in s.exec(tokens):
            s.delete(token)


def add_device(engine: Engine, tenant: str, body: DeviceTokenCreate, now: datetime) -> DeviceTokenRow:
    row = DeviceTokenRow(
        tenant_id=tenant,
        id="dev_" + uuid.uuid4().hex[:20],
        application_id=body.application_id,
        token=body.token,
        subscription=body.subscription.model_dump(mode="json") if body.subscription else None,
        filters=body.filter().model_dump(mode="json"),
        created_at=now,
        updated_at=now,
    )
    with session_scope(engine) as s:
        s.add(row)
    return row


def get_device(engine: Engine, tenant: str, device_id: str) -> DeviceTokenRow:
    with session_scope(engine) as s:
        return fetch(s, DeviceTokenRow, (tenant, device_id), "DEVICE_TOKEN_NOT_FOUND", "device token")


def list_devices(
    engine: Engine, tenant: str, application_id: str | None, limit: int, offset: int
) -> list[DeviceTokenRow]:
    with session_scope(engine) as s:
        query = select(DeviceTokenRow).where(DeviceTokenRow.tenant_id == tenant)
        if application_id:
            query = query.where(DeviceTokenRow.application_id == application_id)
        query = query.order_by(col(DeviceTokenRow.created_at), col(DeviceTokenRow.id))
        return list(s.exec(query.offset(offset).limit(limit)))


def delete_device(engine: Engine, tenant: str, device_id: str) -> None:
    with session_scope(engine) as s:
        s.delete(fetch(s, DeviceTokenRow, (tenant, device_id), "DEVICE_TOKEN_NOT_FOUND", "device token"))


def deactivate(engine: Engine, tenant: str, device_id: str, reason: str, now: datetime) -> None:
    with session_scope(engine) as s:
        row = s.get(DeviceTokenRow, (tenant, device_id))
        if row is not None and row.active:
            row.active, row.deactivated_reason, row.updated_at = False, reason[:300], now


def device_with_application(
    engine: Engine, tenant: str, device_id: str
) -> tuple[DeviceTokenRow, PushApplicationRow] | None:
    with session_scope(engine) as s:
        device = s.get(DeviceTokenRow, (tenant, device_id))
        app = s.get(PushApplicationRow, (tenant, device.application_id)) if device else None
    return (device, _plain(app)) if device and app else None
