"""`fulfillment import locations|inventory FILE.csv`: bulk loads, all rows checked before any is written."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import Engine

from domain.process import field_path
from domain.sourcing.model import InventoryPosition, Location
from storage import network


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split("|") if v.strip()]


JSON_COLUMNS = ("openingHours", "closedDates", "preparationMinutes")  # a location's JSON-valued columns


def _location(row: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
    for key in ("capabilities", "networkTags"):
        if key in parsed:
            parsed[key] = _list(parsed[key])
    for key in JSON_COLUMNS:
        if key in parsed:
            try:
                parsed[key] = json.loads(parsed[key])
            except json.JSONDecodeError as e:
                raise BadJson(key, e.msg) from None
    return parsed


class BadJson(ValueError):
    def __init__(self, column: str, why: str) -> None:
        super().__init__(f"{column}: not JSON ({why})")


KINDS: dict[str, tuple[type[BaseModel], Callable[[dict[str, str]], dict[str, Any]]]] = {
    "locations": (Location, _location),
    "inventory": (InventoryPosition, lambda row: {k: v for k, v in row.items() if v not in (None, "")}),
}


def load(kind: str, path: Path) -> tuple[list[Any], list[str]]:
    """The rows as models, and one message per bad row (`line N, field: problem`)."""
    model, prepare = KINDS[kind]
    rows, problems = [], []
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                rows.append(model.model_validate(prepare(row)))
            except (ValidationError, BadJson) as e:
                if isinstance(e, ValidationError):
                    problems += [f"line {line}, {field_path(x['loc'])}: {x['msg']}" for x in e.errors()]
                else:
                    problems.append(f"line {line}, {e}")
    return rows, problems


def run_import(engine: Engine, tenant: str, kind: str, path: Path) -> tuple[int, list[str]]:
    rows, problems = load(kind, path)
    if problems:
        return 0, problems
    save = network.upsert_locations if kind == "locations" else network.upsert_inventory
    return save(engine, tenant, rows, datetime.now(UTC)), []
