"""Push applications and device tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from domain.events import Event
from domain.feed import FeedFilter
from domain.push import DeviceTokenCreate
from storage.engine import fetch, session_scope
from storage.tables import DeviceTokenRow, PushApplicationRow


def create_application(
    engine: Engine, tenant: str, platform: str, name: str, credentials: dict[str, object], now: datetime
) -> PushApplicationRow:
    row = PushApplicationRow(
        tenant_id=tenant,
        id="app_" + uuid.uuid4().hex[:20],
        platform=platform,
        name=name,
        credentials=credentials,
        created_at=now,
    )
    with session_scope(engine) as s:
        s.add(row)
    return row


def get_application(engine: Engine, tenant: str, application_id: str) -> PushApplicationRow:
    with session_scope(engine) as s:
        return fetch(
            s,
            PushApplicationRow,
            (tenant, application_id),
            "APPLICATION_NOT_FOUND",
            "application",
            "applicationId",
        )


def list_applications(engine: Engine, tenant: str) -> list[PushApplicationRow]:
    with session_scope(engine) as s:
        query = select(PushApplicationRow).where(PushApplicationRow.tenant_id == tenant)
        return list(s.exec(query.order_by(col(PushApplicationRow.created_at))))


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


def list_devices(engine: Engine, tenant: str, application_id: str | None = None) -> list[DeviceTokenRow]:
    with session_scope(engine) as s:
        query = select(DeviceTokenRow).where(DeviceTokenRow.tenant_id == tenant)
        if application_id:
            query = query.where(DeviceTokenRow.application_id == application_id)
        return list(s.exec(query.order_by(col(DeviceTokenRow.created_at))))


def delete_device(engine: Engine, tenant: str, device_id: str) -> None:
    with session_scope(engine) as s:
        s.delete(fetch(s, DeviceTokenRow, (tenant, device_id), "DEVICE_TOKEN_NOT_FOUND", "device token"))


def recipients(engine: Engine, event: Event) -> list[str]:
    """Ids of the active devices of the event's tenant that asked for it."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(DeviceTokenRow).where(DeviceTokenRow.tenant_id == event.tenant, col(DeviceTokenRow.active))
        ).all()
    return [r.id for r in rows if FeedFilter.model_validate(r.filters).matches(event)]


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
    return (device, app) if device and app else None
