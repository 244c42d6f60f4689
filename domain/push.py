"""Push applications (FCM, APNs, Web Push), their credentials, device tokens, and what a push says.

Credentials are checked when an application is registered, so a bad key is a 400 naming the field
rather than a failed delivery later.
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ConfigDict, Field, field_validator, model_validator

from domain.events import Event
from domain.feed import FeedFilter
from domain.model import HTTP_URL, CamelModel

Platform = Literal["fcm", "apns", "webpush"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def http_url(value: str) -> str:
    """Syntax only: the address guard (egress/urls.py) checks where it points before any connection."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        raise ValueError("must be an http(s) URL with a host and no user name")
    return value


def _load_private(pem: str, kind: type) -> Any:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not a readable PEM private key ({e})") from None
    if not isinstance(key, kind):
        raise ValueError(f"expected a {kind.__name__.replace('PrivateKey', '')} key")
    return key


class ServiceAccount(CamelModel):
    """A Firebase service account file as Google issues it (its own snake_case field names)."""

    model_config = CamelModel.model_config | {"alias_generator": None, "extra": "ignore"}
    type: Literal["service_account"]
    project_id: str = Field(min_length=1)
    client_email: str = Field(min_length=3)
    private_key: str
    token_uri: str = "https://oauth2.googleapis.com/token"

    _token_uri = field_validator("token_uri")(http_url)

    @field_validator("private_key")
    @classmethod
    def _rsa(cls, value: str) -> str:
        _load_private(value, rsa.RSAPrivateKey)
        return value


class FcmCredentials(CamelModel):
    service_account: ServiceAccount


class ApnsCredentials(CamelModel):
    team_id: str = Field(pattern=r"^[A-Z0-9]{10}$")
    key_id: str = Field(pattern=r"^[A-Z0-9]{10}$")
    private_key: str = Field(description="The .p8 key's PEM text.")
    topic: str = Field(min_length=1, description="The app's bundle id.")
    environment: Literal["sandbox", "production"] = "production"

    @field_validator("private_key")
    @classmethod
    def _p8(cls, value: str) -> str:
        key = _load_private(value, ec.EllipticCurvePrivateKey)
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("APNs keys are P-256")
        return value


class WebPushCredentials(CamelModel):
    subject: str = Field(description="mailto: or https: contact for push services (VAPID `sub`).")
    vapid_private_key: str | None = Field(None, description="PEM; generated when omitted.")

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if not re.match(r"^(mailto:.+@.+|https://.+)$", value):
            raise ValueError("subject must be a mailto: address or an https: URL")
        return value

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid(cls, value: str | None) -> str | None:
        if value is not None:
            _load_private(value, ec.EllipticCurvePrivateKey)
        return value

    @model_validator(mode="after")
    def _generate(self) -> WebPushCredentials:
        if self.vapid_private_key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            self.vapid_private_key = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
        return self

    def public_key(self) -> str:
        """The application server key browsers pass to `pushManager.subscribe`."""
        key = _load_private(self.vapid_private_key or "", ec.EllipticCurvePrivateKey)
        return b64url(
            key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )


CREDENTIALS: dict[str, type[CamelModel]] = {
    "fcm": FcmCredentials,
    "apns": ApnsCredentials,
    "webpush": WebPushCredentials,
}


class WebPushKeys(CamelModel):
    p256dh: str
    auth: str

    @field_validator("p256dh")
    @classmethod
    def _point(cls, value: str) -> str:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(value))
        except (ValueError, TypeError):
            raise ValueError("p256dh must be a base64url P-256 public key") from None
        return value

    @field_validator("auth")
    @classmethod
    def _auth(cls, value: str) -> str:
        if len(b64url_decode(value)) != 16:
            raise ValueError("auth must be 16 bytes, base64url")
        return value


class WebPushSubscription(CamelModel):
    """What a browser's `PushSubscription.toJSON()` gives."""

    model_config = CamelModel.model_config | {"extra": "ignore"}
    endpoint: str = Field(max_length=2000, pattern=HTTP_URL)
    keys: WebPushKeys

    _endpoint = field_validator("endpoint")(http_url)


class DeviceTokenCreate(CamelModel):
    """Either a `token` (FCM, APNs) or a `subscription` (Web Push), subscribed to sessions or carts."""

    model_config = CamelModel.model_config | ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["token"],
                    "properties": {"token": {"type": "string"}, "subscription": {"not": {}}},
                },
                {
                    "required": ["subscription"],
                    "properties": {"token": {"not": {}}, "subscription": {"type": "object"}},
                },
            ],
            "anyOf": [
                {"required": ["sessionIds"], "properties": {"sessionIds": {"minItems": 1}}},
                {"required": ["cartIds"], "properties": {"cartIds": {"minItems": 1}}},
            ],
        }
    )
    application_id: str = Field(min_length=1, max_length=40)
    token: Annotated[str | None, Field(None, min_length=8, max_length=4096)]
    subscription: WebPushSubscription | None = None
    session_ids: list[str] = Field(default_factory=list, max_length=1000)
    cart_ids: list[str] = Field(default_factory=list, max_length=1000)
    event_types: list[str] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _one_address(self) -> DeviceTokenCreate:
        if (self.token is None) == (self.subscription is None):
            raise ValueError("give either token (FCM, APNs) or subscription (Web Push)")
        if not (self.session_ids or self.cart_ids):
            raise ValueError("subscribe the device to at least one of sessionIds or cartIds")
        return self

    def filter(self) -> FeedFilter:
        return FeedFilter(session_ids=self.session_ids, cart_ids=self.cart_ids, event_types=self.event_types)


class Notification(CamelModel):
    title: str
    body: str
    data: dict[str, str]


def render(event: Event) -> Notification:
    """What a customer's phone shows for an event; `data` lets the app open the right screen."""
    d = event.data
    data = {"eventId": event.id, "type": event.type, "subject": event.subject}
    data.update(
        {k: str(d[k]) for k in ("sessionId", "cartId", "status", "reference") if d.get(k) is not None}
    )
    what = d.get("reference") or d.get("cartId") or event.subject
    if event.type == "session.created":
        return Notification(title="Order received", body=f"{what}: we are on it", data=data)
    if event.type == "session.status_changed":
        status = str(d.get("status", "")).replace("_", " ").lower()
        return Notification(title="Order update", body=f"{what}: {status}", data=data)
    if event.type == "session.changed":
        return Notification(title="Order update", body=f"{what}: the pickup changed", data=data)
    if event.type in CHANGE_TITLES:  # a change proposal: the app opens it by its id
        data["changeId"] = str(d.get("id"))
        return Notification(
            title=CHANGE_TITLES[event.type], body=f"{what}: {d.get('reason', '')}"[:500], data=data
        )
    return Notification(title="Update", body=event.type, data=data)


CHANGE_TITLES = {
    "change.proposed": "Change proposed",
    "change.accepted": "Change accepted",
    "change.rejected": "Change rejected",
    "change.expired": "Change expired",
    "change.failed": "Change not possible",
}


class PushRequest(CamelModel):
    tenant: str
    device_id: str
    event: Event


class PushJob(CamelModel):
    """One event to push to the devices that asked for it."""

    tenant: str
    event: Event
    device_ids: list[str]
