"""FCM HTTP v1: an OAuth token from the service account's signed JWT, then messages:send."""

from __future__ import annotations

import time

import jwt

from domain.push import FcmCredentials, Notification
from egress.http import Egress
from egress.push.result import SendResult, by_status

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class FcmSender:
    def __init__(self, egress: Egress, base_url: str) -> None:
        self._egress, self._base = egress, base_url.rstrip("/")
        self._tokens: dict[str, tuple[str, float]] = {}

    async def _access_token(self, app_id: str, creds: FcmCredentials) -> str:
        cached = self._tokens.get(app_id)
        if cached and cached[1] > time.time() + 60:
            return cached[0]
        sa, now = creds.service_account, int(time.time())
        assertion = jwt.encode(
            {"iss": sa.client_email, "scope": SCOPE, "aud": sa.token_uri, "iat": now, "exp": now + 3600},
            sa.private_key,
            algorithm="RS256",
        )
        # token_uri comes with the tenant's credentials: it goes through the guard like any URL
        reply = await self._egress.post(sa.token_uri, data={"grant_type": GRANT, "assertion": assertion})
        body = reply.json_object()
        if reply.status != 200 or "access_token" not in body:
            raise PermissionError(f"token endpoint answered {reply.status}: {reply.text(200)}")
        self._tokens[app_id] = (body["access_token"], now + float(body.get("expires_in", 3600)))
        return str(body["access_token"])

    async def send(self, app_id: str, creds: FcmCredentials, token: str, note: Notification) -> SendResult:
        try:
            access = await self._access_token(app_id, creds)
        except PermissionError as e:
            return SendResult("rejected", None, str(e))
        message = {
            "message": {
                "token": token,
                "notification": {"title": note.title, "body": note.body},
                "data": note.data,
            }
        }
        url = f"{self._base}/v1/projects/{creds.service_account.project_id}/messages:send"
        reply = await self._egress.post(url, json=message, headers={"Authorization": f"Bearer {access}"})
        body, detail = reply.json_object(), reply.text(300)
        error = body.get("error")
        details = (error.get("details") if isinstance(error, dict) else None) or []
        codes = {d.get("errorCode") for d in details if isinstance(d, dict)}
        if "UNREGISTERED" in codes or reply.status == 404:
            return SendResult("gone", reply.status, detail)
        if reply.status == 401:
            self._tokens.pop(app_id, None)  # refresh the access token on the retry
            return SendResult("retry", reply.status, detail)
        return by_status(reply.status, detail)
