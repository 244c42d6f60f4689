"""Apple Push Notification service: HTTP/2 with a provider token (ES256 JWT from the .p8 key)."""

from __future__ import annotations

import ssl
import time

import httpx
import jwt

from domain.push import ApnsCredentials, Notification
from egress.http import Egress, Reply, read_capped, safe_errors
from egress.push.result import SendResult, by_status

HOSTS = {"production": "https://api.push.apple.com", "sandbox": "https://api.sandbox.push.apple.com"}
TOKEN_LIFETIME = 50 * 60  # Apple refuses tokens older than an hour
GONE_REASONS = {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"}


class ApnsSender:
    def __init__(self, base_url: str | None, ca_file: str | None, egress: Egress) -> None:
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._client = httpx.AsyncClient(transport=egress.transport(verify), timeout=15)
        self._base = base_url.rstrip("/") if base_url else None
        self._tokens: dict[str, tuple[str, float]] = {}

    async def close(self) -> None:
        await self._client.aclose()

    def _provider_token(self, app_id: str, creds: ApnsCredentials) -> str:
        cached = self._tokens.get(app_id)
        if cached and cached[1] > time.time():
            return cached[0]
        now = int(time.time())
        token = jwt.encode(
            {"iss": creds.team_id, "iat": now},
            creds.private_key,
            algorithm="ES256",
            headers={"kid": creds.key_id},
        )
        self._tokens[app_id] = (token, now + TOKEN_LIFETIME)
        return token

    async def send(
        self, app_id: str, creds: ApnsCredentials, token: str, note: Notification, apns_id: str
    ) -> SendResult:
        base = self._base or HOSTS[creds.environment]
        payload = {
            "aps": {"alert": {"title": note.title, "body": note.body}, "sound": "default"},
            **note.data,
        }
        headers = {
            "authorization": f"bearer {self._provider_token(app_id, creds)}",
            "apns-topic": creds.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-id": apns_id,
        }
        url = f"{base}/3/device/{token}"
        with safe_errors():
            async with self._client.stream("POST", url, json=payload, headers=headers) as r:
                response = Reply(r.status_code, r.headers, await read_capped(r.aiter_bytes()))
        reason = str(response.json_object().get("reason", ""))
        if response.status == 400 and reason in GONE_REASONS:
            return SendResult("gone", 400, reason)
        if response.status == 403 and reason == "ExpiredProviderToken":
            self._tokens.pop(app_id, None)
            return SendResult("retry", 403, reason)
        return by_status(response.status, reason)
