"""Push notifications: applications per platform with their credentials, and device subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, PageDep, require
from api.idempotency import IdempotencyKey, idempotent, request_hash
from domain.errors import DomainError, FieldError
from domain.model import CamelModel
from domain.process import field_path
from domain.push import CREDENTIALS, DeviceTokenCreate, Platform, WebPushCredentials
from storage import push
from storage.tables import DeviceTokenRow, PushApplicationRow
from storage.tenants import Principal

router = APIRouter(tags=["push"])
Reader = Annotated[Principal, Depends(require("push:read"))]
Writer = Annotated[Principal, Depends(require("push:write"))]


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place, to embed in another schema."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        return [resolve(v) for v in node] if isinstance(node, list) else node

    return dict(resolve(schema))


class ApplicationCreate(CamelModel):
    """The credentials' shape depends on the platform (checked at registration, never returned)."""

    model_config = CamelModel.model_config | ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"platform": {"const": name}}},
                    "then": {"properties": {"credentials": _inline(model.model_json_schema(by_alias=True))}},
                }
                for name, model in CREDENTIALS.items()
            ]
        }
    )
    platform: Platform
    name: str = Field(min_length=1, max_length=200)
    credentials: dict[str, Any] = Field(
        description="fcm: {serviceAccount}; apns: {teamId, keyId, privateKey, topic, environment}; "
        "webpush: {subject, vapidPrivateKey?} (a VAPID key is generated when omitted)."
    )


class ApplicationOut(CamelModel):
    id: str
    platform: str
    name: str
    created_at: datetime
    vapid_public_key: str | None = Field(None, description="Web Push: the applicationServerKey for browsers.")


class DeviceOut(CamelModel):
    id: str
    application_id: str
    token: str | None
    endpoint: str | None
    session_ids: list[str]
    cart_ids: list[str]
    event_types: list[str]
    active: bool
    deactivated_reason: str | None
    created_at: datetime


def _application(row: PushApplicationRow) -> ApplicationOut:
    public = (
        WebPushCredentials.model_validate(row.credentials).public_key() if row.platform == "webpush" else None
    )
    return ApplicationOut(
        id=row.id, platform=row.platform, name=row.name, created_at=row.created_at, vapid_public_key=public
    )


def _device(row: DeviceTokenRow) -> DeviceOut:
    return DeviceOut(
        id=row.id,
        application_id=row.application_id,
        token=row.token,
        endpoint=(row.subscription or {}).get("endpoint"),
        session_ids=row.filters.get("sessionIds", []),
        cart_ids=row.filters.get("cartIds", []),
        event_types=row.filters.get("eventTypes", []),
        active=row.active,
        deactivated_reason=row.deactivated_reason,
        created_at=row.created_at,
    )


@router.post("/applications", status_code=201, response_model=ApplicationOut)
async def register_application(
    request: Request,
    body: ApplicationCreate,
    engine: EngineDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Register an app for push; its credentials are checked now and never returned."""

    async def respond() -> tuple[int, Any]:
        return 201, (await _register(engine, p.tenant, body)).model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


async def _register(engine: Engine, tenant: str, body: ApplicationCreate) -> ApplicationOut:
    try:
        credentials = CREDENTIALS[body.platform].model_validate(body.credentials)
    except ValidationError as e:
        errors = [
            FieldError("INVALID_CREDENTIALS", x["msg"], field_path(("credentials", *x["loc"])))
            for x in e.errors()
        ]
        raise DomainError(errors) from None
    row = await run_in_threadpool(
        push.create_application,
        engine,
        tenant,
        body.platform,
        body.name,
        credentials.model_dump(mode="json", by_alias=True),
        datetime.now(UTC),
    )
    return _application(row)


@router.get("/applications", response_model=list[ApplicationOut])
async def list_applications(engine: EngineDep, p: Reader, page: PageDep) -> list[ApplicationOut]:
    rows = await run_in_threadpool(push.list_applications, engine, p.tenant, page.limit, page.offset)
    return [_application(r) for r in rows]


@router.get("/applications/{application_id}", response_model=ApplicationOut)
async def get_application(application_id: str, engine: EngineDep, p: Reader) -> ApplicationOut:
    return _application(await run_in_threadpool(push.get_application, engine, p.tenant, application_id))


@router.delete("/applications/{application_id}", status_code=204)
async def deregister_application(application_id: str, engine: EngineDep, p: Writer) -> Response:
    """Deregister the app; its device tokens are unsubscribed with it."""
    await run_in_threadpool(push.delete_application, engine, p.tenant, application_id)
    return Response(status_code=204)


@router.post("/device_tokens", status_code=201, response_model=DeviceOut)
async def subscribe_device(
    request: Request,
    body: DeviceTokenCreate,
    engine: EngineDep,
    p: Writer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Subscribe a device token (FCM, APNs) or a Web Push subscription to sessions or carts."""

    async def respond() -> tuple[int, Any]:
        app = await run_in_threadpool(push.get_application, engine, p.tenant, body.application_id)
        wants_subscription = app.platform == "webpush"
        if wants_subscription != (body.subscription is not None):
            field = "subscription" if wants_subscription else "token"
            raise DomainError.one("WRONG_ADDRESS", f"a {app.platform} application takes a {field}", field)
        row = await run_in_threadpool(push.add_device, engine, p.tenant, body, datetime.now(UTC))
        return 201, _device(row).model_dump(mode="json")

    fingerprint = request_hash(request, body.model_dump(mode="json"))
    return await idempotent(engine, p.tenant, idempotency_key, fingerprint, respond)


@router.get("/device_tokens", response_model=list[DeviceOut])
async def list_devices(
    engine: EngineDep,
    p: Reader,
    page: PageDep,
    application_id: Annotated[str | None, Query(alias="applicationId", max_length=40)] = None,
) -> list[DeviceOut]:
    rows = await run_in_threadpool(
        push.list_devices, engine, p.tenant, application_id, page.limit, page.offset
    )
    return [_device(r) for r in rows]


@router.get("/device_tokens/{device_id}", response_model=DeviceOut)
async def get_device(device_id: str, engine: EngineDep, p: Reader) -> DeviceOut:
    return _device(await run_in_threadpool(push.get_device, engine, p.tenant, device_id))


@router.delete("/device_tokens/{device_id}", status_code=204)
async def unsubscribe_device(device_id: str, engine: EngineDep, p: Writer) -> Response:
    await run_in_threadpool(push.delete_device, engine, p.tenant, device_id)
    return Response(status_code=204)
