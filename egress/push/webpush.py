"""Web Push: the payload encrypted for the subscription (RFC 8291, aes128gcm), VAPID-signed (RFC 8292)."""

from __future__ import annotations

import json
import os
import time
from urllib.parse import urlsplit

import http_ece
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from domain.push import Notification, WebPushCredentials, WebPushSubscription, b64url_decode
from egress.http import Egress
from egress.push.result import SendResult, by_status

TTL_SECONDS = 24 * 3600


def encrypt(payload: bytes, subscription: WebPushSubscription) -> bytes:
    """aes128gcm content for the subscription's key; a fresh ephemeral key and salt for each message."""
    return bytes(
        http_ece.encrypt(
            payload,
            salt=os.urandom(16),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=b64url_decode(subscription.keys.p256dh),
            auth_secret=b64url_decode(subscription.keys.auth),
            version="aes128gcm",
        )
    )


def vapid_header(creds: WebPushCredentials, endpoint: str) -> str:
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + 12 * 3600,
        "sub": creds.subject,
    }
    token = jwt.encode(claims, creds.vapid_private_key or "", algorithm="ES256")
    return f"vapid t={token}, k={creds.public_key()}"


class WebPushSender:
    def __init__(self, egress: Egress) -> None:
        self._egress = egress

    async def send(
        self, creds: WebPushCredentials, subscription: WebPushSubscription, note: Notification
    ) -> SendResult:
        body = encrypt(json.dumps(note.model_dump(mode="json")).encode(), subscription)
        headers = {
            "Authorization": vapid_header(creds, subscription.endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_SECONDS),
            "Urgency": "normal",
        }
        reply = await self._egress.post(subscription.endpoint, data=body, headers=headers)
        return by_status(reply.status, reply.text(300), ok=(200, 201, 202), gone=(404, 410))
