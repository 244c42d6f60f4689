"""Standard Webhooks signatures: HMAC-SHA256 over `{id}.{timestamp}.{body}` with the secret's bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signature_header(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """One signature per valid secret, space-separated, as the spec allows during a rotation."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets)
