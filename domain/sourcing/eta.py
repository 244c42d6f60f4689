"""ETA strings as the Fulfilment Options API writes them: hours (`8H`) under a day, whole days above."""

from __future__ import annotations

import math
import re

_ETA = re.compile(r"^(\d+)([HD]?)$")


def format_hours(hours: float) -> str:
    """`8` hours is `8H`; a day or more rounds up to whole days: `24` is `1D`, `25` is `2D`."""
    whole = max(math.ceil(hours - 1e-9), 0)
    return f"{whole}H" if whole < 24 else f"{math.ceil(whole / 24)}D"


def normalize_eta(value: str | int | None) -> str:
    """`8H` and `1D` stay; a bare number is hours (`8` is `8H`, `48` is `2D`); null is `1D`."""
    if value is None:
        return "1D"
    match = _ETA.match(str(value).strip().upper())
    if not match:
        raise ValueError(f"an ETA is a number of hours, or a number followed by H or D; not {value!r}")
    number, unit = int(match.group(1)), match.group(2)
    return f"{number}{unit}" if unit else format_hours(number)


def eta_hours(value: str) -> float:
    number, unit = int(value[:-1]), value[-1]
    return number * 24 if unit == "D" else number
