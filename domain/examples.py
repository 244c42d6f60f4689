"""A small custom process, used as the API docs' example and by the tests."""

from __future__ import annotations

import copy
from typing import Any

_GIFT_WRAP: dict[str, Any] = {
    "type": "GIFT_WRAP",
    "description": "Wrap, then hand over",
    "states": [{"name": "CREATED"}, {"name": "WRAPPED"}, {"name": "HANDED_OVER"}, {"name": "CANCELLED"}],
    "initialState": "CREATED",
    "terminalStates": ["HANDED_OVER", "CANCELLED"],
    "transitions": [
        {"from": "CREATED", "action": "wrap", "to": "WRAPPED"},
        {"from": "WRAPPED", "action": "finish", "to": "HANDED_OVER"},
        {"from": "CREATED", "action": "cancel", "to": "CANCELLED"},
    ],
}


def gift_wrap(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of the example definition (callers may change it freely)."""
    return {**copy.deepcopy(_GIFT_WRAP), **overrides}
