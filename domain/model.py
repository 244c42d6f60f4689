"""Base model: snake_case in Python, camelCase on the wire (API bodies and workflow payloads alike)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# The largest integer the API takes anywhere: what a 32-bit database column holds on every backend.
MAX_INT = 2**31 - 1
# An absolute http(s) URL in plain ASCII, as the OpenAPI schema states it (the egress guard decides
# where it may point): a host name of DNS labels (IP literals included, IPv6 ones not), an optional
# port from 1 to 65535, then the path or query.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
HTTP_URL = rf"^https?://{_LABEL}(\.{_LABEL})*(:{_PORT})?([/?#][!-~]*)?$"


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )
