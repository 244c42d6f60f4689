"""One push to one device: render the event, send it with the device's provider, settle the outcome."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from config.settings import Settings
from domain.ids import push_message_id
from domain.push import (
    ApnsCredentials,
    FcmCredentials,
    Notification,
    PushRequest,
    WebPushCredentials,
    WebPushSubscription,
    render,
)
from egress.http import Egress
from egress.push.apns import ApnsSender
from egress.push.fcm import FcmSender
from egress.push.result import SendResult
from egress.push.webpush import WebPushSender
from egress.urls import Unreachable, UnsafeUrl
from storage import push

log = structlog.get_logger(__name__)


class PushActivities:
    def __init__(self, engine: Engine, http: aiohttp.ClientSession, settings: Settings) -> None:
        self._engine = engine
        egress = Egress(http, settings.webhook_allow_private)  # the one guard, for every provider URL
        self._fcm = FcmSender(egress, settings.fcm_base_url)
        self._apns = ApnsSender(settings.apns_base_url, settings.apns_ca_file, egress)
        self._webpush = WebPushSender(egress)

    async def close(self) -> None:
        await self._apns.close()

    @activity.defn(name="send_push")
    async def send_push(self, request: PushRequest) -> str:
        found = await asyncio.to_thread(
            push.device_with_application, self._engine, request.tenant, request.device_id
        )
        if found is None or not found[0].active:
            return "skipped"
        device, app = found
        note = render(request.event)
        try:
            result = await self._send(
                app.platform, app.id, app.credentials, device.token, device.subscription, note, request
            )
        except UnsafeUrl as e:  # refused by the guard: a retry would be refused too
            result = SendResult("rejected", None, str(e))
        except Unreachable as e:
            result = SendResult("retry", None, str(e))
        log.info(
            "push.attempt",
            tenant=request.tenant,
            workflow_id=activity.info().workflow_id,
            device_id=device.id,
            platform=app.platform,
            outcome=result.outcome,
            status=result.status,
        )
        if result.outcome == "gone":
            reason = f"{app.platform} reported the token gone ({result.status}: {result.detail})"
            await asyncio.to_thread(
                push.deactivate, self._engine, request.tenant, device.id, reason, datetime.now(UTC)
            )
        elif result.outcome == "retry":
            raise ApplicationError(
                f"{app.platform} answered {result.status}: {result.detail}", type="PushRetry"
            )
        return result.outcome

    async def _send(
        self,
        platform: str,
        app_id: str,
        credentials: dict[str, Any],
        token: str | None,
        subscription: dict[str, Any] | None,
        note: Notification,
        request: PushRequest,
    ) -> SendResult:
        if platform == "fcm":
            return await self._fcm.send(app_id, FcmCredentials.model_validate(credentials), str(token), note)
        if platform == "apns":
            apns_id = push_message_id(request.event.id, request.device_id)
            return await self._apns.send(
                app_id, ApnsCredentials.model_validate(credentials), str(token), note, apns_id
            )
        subscription_ = WebPushSubscription.model_validate(subscription)
        return await self._webpush.send(WebPushCredentials.model_validate(credentials), subscription_, note)
