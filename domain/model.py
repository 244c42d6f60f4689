"""Base model: snake_case in Python, camelCase on the wire (API bodies and workflow payloads alike)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

# The largest integer the API takes anywhere: what a 32-bit database column holds on every backend.
MAX_INT = 2**31 - 1
# An absolute http(s) URL in plain ASCII, as the OpenAPI schema states it (the egress guard decides
# where it may point): a host name of DNS labels (IP literals included, IPv6 ones not), an optional
# port from 1 to 65535, then the path or query.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
HTTP_URL = rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?([/?#][!-~]*)?$"
PublicUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        pattern=HTTP_URL,
        description="An absolute http(s) URL; a public address unless private ones are allowed.",
    ),
]
"""A URL the product will call (webhooks, connectors): the address guard checks it when it is given."""
HTTP_BASE_URL = rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?(/[!-\"$->@-~]*)?$"
BaseUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        pattern=HTTP_BASE_URL,
        description="An absolute http(s) URL without query or fragment (steps add paths to it); a public "
        "address unless private ones are allowed.",
    ),
]


# Free-form JSON a caller gives (a session's context, an action's data) travels in workflow payloads
# and events: bounded in size, and in depth, which the payload converter refuses past about 200
# levels (a session would be stuck with an input it cannot take).
JSON_MAX_BYTES = 32 * 1024
JSON_MAX_DEPTH = 32


def not_unicode(value: Any, path: str = "") -> list[str]:
    """Where a JSON value holds a string that is not Unicode (a lone surrogate, which JSON's `\\u`
    escapes allow): such a string cannot be stored or sent on, so it is refused where it comes in."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return [path or "value"]
        return []
    if isinstance(value, dict):
        found = [f"{path}.{k}" if path else str(k) for k in value if not_unicode(str(k))]
        return found + [
            p for k, v in value.items() for p in not_unicode(v, f"{path}.{k}" if path else str(k))
        ]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in not_unicode(v, f"{path}[{i}]")]
    return []


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    bad = not_unicode(value)
    if bad:
        raise ValueError(f"holds text that is not valid Unicode (a lone surrogate) at {', '.join(bad[:5])}")
    try:
        size = len(json.dumps(value, default=str, allow_nan=False))
    except ValueError:
        raise ValueError("NaN and Infinity are not JSON") from None
    if size > JSON_MAX_BYTES:
        raise ValueError(f"must stay under {JSON_MAX_BYTES} bytes of JSON")
    containers: list[tuple[Any, int]] = [(value, 1)]  # objects and arrays, each with its depth
    while containers:
        item, depth = containers.pop()
        if depth > JSON_MAX_DEPTH:
            raise ValueError(f"must not nest deeper than {JSON_MAX_DEPTH} levels")
        children = item.values() if isinstance(item, dict) else item
        containers.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return value


JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_bounded),
    Field(description=f"A JSON object: at most {JSON_MAX_BYTES} bytes and {JSON_MAX_DEPTH} levels deep."),
]


def _text(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time string, such as 2026-11-28T09:00:00Z")
    return value


# A date-time a caller gives: pydantic would read a number as seconds since 1970, silently.
Timestamp = Annotated[datetime, BeforeValidator(_text)]


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )
