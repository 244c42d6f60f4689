"""Templates in process steps: JSON values whose strings name session fields and action data.

`{{session.reference}}`, `{{session.context.customer.id}}`, `{{data.lockerId}}`. A string that is
only one placeholder takes the value itself (a number stays a number, an object an object); inside
a longer string a value is written as text (objects and lists as JSON). A name that leads nowhere
is null, or nothing inside text: the session's data is the tenant's, and a missing key is theirs
to see in the partner's answer, not a reason to stop the session.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
SESSION_FIELDS = ("id", "reference", "cartId", "status", "processType", "revision")


def placeholders(template: Any) -> list[str]:
    """Every placeholder's name in a template, in order."""
    if isinstance(template, str):
        return PLACEHOLDER.findall(template)
    if isinstance(template, dict):
        return [name for value in template.values() for name in placeholders(value)]
    if isinstance(template, list):
        return [name for value in template for name in placeholders(value)]
    return []


def unknown(name: str) -> str | None:
    """Why a placeholder's name can never resolve (None when it can)."""
    root, _, rest = name.partition(".")
    if root == "data":
        return None if rest else "`data` needs a key: `{{data.<key>}}`"
    if root != "session":
        return f"{name!r} starts with neither `session.` nor `data.`"
    field, _, deeper = rest.partition(".")
    if field == "context":
        return None if deeper else "`session.context` needs a key: `{{session.context.<key>}}`"
    if field in SESSION_FIELDS and not deeper:
        return None
    return f"{name!r}: a session has {', '.join(SESSION_FIELDS)} and context.<key>"


def render(template: Any, scope: dict[str, Any]) -> Any:
    """The template with every placeholder replaced from `scope` (`{"session": …, "data": …}`)."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template.strip())
        if whole:
            return lookup(scope, whole.group(1))
        return PLACEHOLDER.sub(lambda m: _text(lookup(scope, m.group(1))), template)
    if isinstance(template, dict):
        return {key: render(value, scope) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, scope) for value in template]
    return template


def render_path(template: str, scope: dict[str, Any]) -> str:
    """A URL path: each value is percent-encoded, so a reference cannot add segments or a query,
    nor, as `.` or `..`, remove one."""

    def segment(m: re.Match[str]) -> str:
        value = quote(_text(lookup(scope, m.group(1))), safe="")
        return value.replace(".", "%2E") if value in (".", "..") else value

    return PLACEHOLDER.sub(segment, template)


DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$|[?#])")


def lookup(scope: dict[str, Any], name: str) -> Any:
    value: Any = scope
    for part in name.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
