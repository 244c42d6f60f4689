"""Connectors: a tenant's partner systems (OMS, WMS, carrier, device, any HTTP service), by name.

A connector is where `call` steps of a process send requests (its base URL, how to authenticate,
extra headers, a timeout) and what signs the events the partner sends back (its inbound secret).
The API takes `auth` and `headers` as JSON objects whose schema is stated here, and checks them
with `parse_auth` and `check_headers`, so that each error names the field as the caller wrote it
(`auth.token`, `headers.X-Api-Key`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, WithJsonSchema, field_validator
from pydantic.json_schema import SkipJsonSchema

from domain.errors import DomainError, FieldError
from domain.model import BaseUrl, CamelModel
from domain.process import field_path
from domain.signing import sign

Kind = Literal["OMS", "WMS", "CARRIER", "DEVICE", "HTTP"]
AuthType = Literal["none", "bearer", "basic", "standard-webhooks"]

CONNECTOR_NAME = r"^[a-z0-9][a-z0-9_-]*$"  # what process definitions' `call` steps name
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0
MAX_HEADERS = 20
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an HTTP token (RFC 9110)
HEADER_VALUE = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"  # no control characters (CR, LF, NUL, …); tabs pass
MAX_HEADER_NAME = 100
MAX_HEADER_VALUE = 1000
# Set by the call itself, never by a connector's configuration (compared without case).
# Set by each call itself, or about the connection rather than the request (a partner would see
# them twice, or a body framed two ways).
RESERVED_HEADERS = (
    "authorization",
    "host",
    "content-length",
    "content-type",
    "idempotency-key",
    "user-agent",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "proxy-authorization",
    "proxy-connection",
)
RESERVED_PREFIXES = ("webhook-",)  # Standard Webhooks' signature headers
# A Standard Webhooks secret: `whsec_` and the key in base64, 16 to 66 bytes.
WHSEC = r"^whsec_(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
WHSEC_MIN, WHSEC_MAX = 30, 94


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


_RESERVED_WORDS = [*map(_any_case, RESERVED_HEADERS), *(_any_case(p) + ".*" for p in RESERVED_PREFIXES)]
_RESERVED = "^(?:" + "|".join(_RESERVED_WORDS) + ")$"  # the schema's way of saying "in any case"


def reserved_header(name: str) -> bool:
    lower = name.lower()
    return lower in RESERVED_HEADERS or lower.startswith(RESERVED_PREFIXES)


# Input


class NoAuth(CamelModel):
    type: Literal["none"]


class BearerAuth(CamelModel):
    type: Literal["bearer"]
    token: str = Field(
        min_length=1,
        max_length=4000,
        pattern=r"^[!-~]+$",
        description="Sent as `Authorization: Bearer <token>`: visible ASCII, no spaces.",
    )


class BasicAuth(CamelModel):
    type: Literal["basic"]
    username: str = Field(
        min_length=1, max_length=200, pattern=r"^[^:\x00-\x1f\x7f]+$", description="No `:`."
    )
    password: str = Field(max_length=1000, pattern=r"^[^\x00-\x1f\x7f]*$")


class StandardWebhooksAuth(CamelModel):
    """Requests are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`) with this secret."""

    type: Literal["standard-webhooks"]
    secret: (
        Annotated[str, Field(min_length=WHSEC_MIN, max_length=WHSEC_MAX, pattern=WHSEC)]
        | SkipJsonSchema[None]
    ) = Field(
        None,
        description="`whsec_` and a base64 key of 16 to 66 bytes; generated when left out, and then "
        "shown once in the answer.",
    )

    @field_validator("secret", mode="before")
    @classmethod
    def _whsec(cls, value: Any) -> Any:
        """Said in words, before the pattern's own message (a regex) would be."""
        if value is None:
            return value
        if not isinstance(value, str):
            raise ValueError("must be a string")
        bad = not (WHSEC_MIN <= len(value) <= WHSEC_MAX and re.fullmatch(WHSEC, value))
        if not bad:
            try:
                base64.b64decode(value.removeprefix("whsec_"), validate=True)
            except (binascii.Error, ValueError):
                bad = True
        if bad:
            raise ValueError("must be whsec_ followed by a base64 key of 16 to 66 bytes (with its = padding)")
        return value


AUTH: dict[str, type[CamelModel]] = {
    "none": NoAuth,
    "bearer": BearerAuth,
    "basic": BasicAuth,
    "standard-webhooks": StandardWebhooksAuth,
}


def _inline(model: type[CamelModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    return schema


AUTH_SCHEMA: dict[str, Any] = {
    "oneOf": [_inline(m) for m in AUTH.values()],
    "description": "How requests to the partner authenticate, by `type`: `none`; `bearer` {token}; "
    "`basic` {username, password}; `standard-webhooks` {secret?} (signed requests).",
}
HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_HEADERS,
    "propertyNames": {
        "minLength": 1,
        "maxLength": MAX_HEADER_NAME,
        "pattern": HEADER_NAME,
        "not": {"pattern": _RESERVED},
    },
    "additionalProperties": {"type": "string", "maxLength": MAX_HEADER_VALUE, "pattern": HEADER_VALUE},
    "description": f"Sent with every call: at most {MAX_HEADERS}; not Authorization, Host, "
    "Content-Length, Idempotency-Key or webhook-* (the call sets those).",
}

AuthIn = Annotated[dict[str, Any], WithJsonSchema(AUTH_SCHEMA)]
HeadersIn = Annotated[dict[str, str], WithJsonSchema(HEADERS_SCHEMA)]
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=CONNECTOR_NAME,
        description="Unique in the tenant; process definitions name connectors by it.",
    ),
]
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT, description="Seconds a call may take.")]
Adapter = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="An installed partner adapter (`fulfillment.adapters` entry point) that translates "
        "this partner's own API to the contract in docs/partners.md; none: the partner speaks it.",
    ),
]


class ConnectorCreate(CamelModel):
    name: Name
    kind: Kind
    base_url: BaseUrl
    auth: AuthIn
    timeout_seconds: Timeout = DEFAULT_TIMEOUT
    headers: HeadersIn = Field(default_factory=dict)
    adapter: Adapter | None = None


def _left_out(schema: dict[str, Any]) -> None:
    """A PATCH field's schema: its type without the null (refused: a field is left out to keep it)."""
    kept = [x for x in schema.pop("anyOf", []) if x != {"type": "null"}]
    if len(kept) == 1:
        schema.update(kept[0])
    elif kept:
        schema["anyOf"] = kept
    schema.pop("default", None)


class ConnectorPatch(CamelModel):
    """Only the fields sent change; a field may be left out, but not set to null. `auth` is replaced
    whole."""

    # `X | None`, the schema saying X only: an error in X is then named by the field alone (a union
    # with `SkipJsonSchema[None]` would add the member's tag to the error's location).
    name: Name | None = Field(None, json_schema_extra=_left_out)
    kind: Kind | None = Field(None, json_schema_extra=_left_out)
    base_url: BaseUrl | None = Field(None, json_schema_extra=_left_out)
    auth: AuthIn | None = Field(None, json_schema_extra=_left_out)
    timeout_seconds: Timeout | None = Field(None, json_schema_extra=_left_out)
    headers: HeadersIn | None = Field(None, json_schema_extra=_left_out)
    adapter: Adapter | None = Field(None, description="null: the partner speaks the contract itself.")

    @field_validator("name", "kind", "base_url", "auth", "timeout_seconds", "headers", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out to keep it; null is not a value")
        return value


def parse_auth(value: dict[str, Any], where: str = "auth") -> dict[str, Any]:
    """The auth as stored (`{"type": "bearer", "token": …}`), or a DomainError naming each bad field.
    A standard-webhooks auth without a secret comes back without one (storage generates it)."""
    kind = value.get("type")
    model = AUTH.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise DomainError.one(
            "INVALID_AUTH", f"type must be one of {', '.join(AUTH)}", field_path((where, "type"))
        )
    try:
        auth = model.model_validate(value)
    except ValidationError as e:
        raise DomainError(
            [
                FieldError(
                    "INVALID_AUTH", x["msg"].removeprefix("Value error, "), field_path((where, *x["loc"]))
                )
                for x in e.errors()
            ]
        ) from None
    return auth.model_dump(mode="json", by_alias=True, exclude_none=True)


def check_headers(headers: dict[str, str], where: str = "headers") -> dict[str, str]:
    """The headers, or a DomainError naming each bad one (`headers.<name>`)."""
    errors: list[FieldError] = []
    if len(headers) > MAX_HEADERS:
        errors.append(FieldError("TOO_MANY_HEADERS", f"at most {MAX_HEADERS} headers", where))
    seen: set[str] = set()
    for name, value in headers.items():
        at = f"{where}.{name}"
        if not re.fullmatch(HEADER_NAME, name) or len(name) > MAX_HEADER_NAME:
            message = f"not a header name: 1 to {MAX_HEADER_NAME} letters, digits and !#$%&'*+-.^_`|~"
            errors.append(FieldError("INVALID_HEADER", message, at))
        elif reserved_header(name):
            errors.append(FieldError("RESERVED_HEADER", f"{name} is set by the call itself", at))
        elif name.lower() in seen:
            errors.append(FieldError("DUPLICATE_HEADER", "given twice (header names ignore case)", at))
        seen.add(name.lower())
        if len(value) > MAX_HEADER_VALUE:
            errors.append(FieldError("INVALID_HEADER", f"at most {MAX_HEADER_VALUE} characters", at))
        elif not re.fullmatch(HEADER_VALUE, value):
            errors.append(
                FieldError("INVALID_HEADER", "must not hold CR, LF or other control characters", at)
            )
    if errors:
        raise DomainError(errors)
    return dict(headers)


# Output


def _absent(value: Any) -> bool:
    return value is None


class AuthSummary(CamelModel):
    """The auth's type; its credentials are never shown, but a standard-webhooks secret in the one
    answer that made it."""

    type: AuthType
    username: str | SkipJsonSchema[None] = Field(None, exclude_if=_absent, description="basic: the user.")
    secret: str | SkipJsonSchema[None] = Field(
        None,
        exclude_if=_absent,
        description="standard-webhooks: the signing secret, shown once (in the answer that set it).",
    )


class ConnectorOut(CamelModel):
    id: str
    name: str
    kind: Kind
    base_url: str
    auth: AuthSummary
    timeout_seconds: float
    headers: dict[str, str]
    adapter: str | None
    created_at: datetime
    updated_at: datetime


class ConnectorWithSecret(ConnectorOut):
    inbound_secret: str = Field(
        description="Shown once: the secret the partner signs its events to us with (Standard Webhooks)."
    )
    previous_inbound_secret_expires_at: datetime | None = Field(
        None, description="After a rotation: until when the previous inbound secret still verifies."
    )


# What the rest of the code works with


@dataclass(frozen=True)
class Connector:
    """A connector with its credentials and inbound secrets decrypted."""

    id: str
    tenant: str
    name: str
    kind: str
    base_url: str
    auth: dict[str, Any]  # e.g. {"type": "bearer", "token": "…"}
    timeout_seconds: float
    headers: dict[str, str]
    inbound_secrets: list[str]  # the current one first, then the previous one while its overlap lasts
    adapter: str | None = None
    created_at: datetime | None = field(default=None, compare=False)
    updated_at: datetime | None = field(default=None, compare=False)
    previous_inbound_secret_expires_at: datetime | None = field(default=None, compare=False)


def summary(auth: dict[str, Any], reveal: bool = False) -> AuthSummary:
    """What an answer shows of an auth: its type (and basic's user); with `reveal`, a standard-webhooks
    secret too."""
    secret = auth.get("secret") if reveal and auth.get("type") == "standard-webhooks" else None
    username = auth.get("username") if auth.get("type") == "basic" else None
    return AuthSummary(type=auth["type"], username=username, secret=secret)


def _shown(connector: Connector, reveal: bool) -> dict[str, Any]:
    return {
        "id": connector.id,
        "name": connector.name,
        "kind": connector.kind,
        "base_url": connector.base_url,
        "auth": summary(connector.auth, reveal),
        "timeout_seconds": connector.timeout_seconds,
        "headers": connector.headers,
        "adapter": connector.adapter,
        "created_at": connector.created_at,
        "updated_at": connector.updated_at,
    }


def out(connector: Connector, reveal: bool = False) -> ConnectorOut:
    """What GET and PATCH answer; with `reveal`, a standard-webhooks secret just generated."""
    return ConnectorOut.model_validate(_shown(connector, reveal))


def with_secret(connector: Connector, reveal: bool = False) -> ConnectorWithSecret:
    """What create and rotate answer: the current inbound secret, shown this once."""
    return ConnectorWithSecret.model_validate(
        {
            **_shown(connector, reveal),
            "inbound_secret": connector.inbound_secrets[0],
            "previous_inbound_secret_expires_at": connector.previous_inbound_secret_expires_at,
        }
    )


def auth_headers(connector: Connector, message_id: str, body: bytes, now: int) -> dict[str, str]:
    """The connector's credentials, as its auth type sends them (`now`: Unix seconds, for a
    standard-webhooks signature; `message_id` its `webhook-id`)."""
    auth = connector.auth
    kind = auth.get("type")
    if kind == "bearer":
        return {"Authorization": f"Bearer {auth['token']}"}
    if kind == "basic":
        pair = f"{auth['username']}:{auth.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    if kind == "standard-webhooks":
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(now),
            "webhook-signature": sign(auth["secret"], message_id, now, body),
        }
    return {}
