"""Base model: snake_case in Python, camelCase on the wire (API bodies and workflow payloads alike)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# The largest integer the API takes anywhere: what a 32-bit database column holds on every backend.
MAX_INT = 2**31 - 1


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )
