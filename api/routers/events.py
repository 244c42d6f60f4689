"""The event catalogue and the event log, paged by cursor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, require
from domain.errors import DomainError
from domain.events import CATALOGUE, CUSTOM, FILTER_LIST, Event, ProcessEventData, known_filter
from domain.model import MAX_INT, CamelModel
from storage import events
from storage.tenants import Principal

router = APIRouter(tags=["events"])
Reader = Annotated[Principal, Depends(require("events:read"))]


class EventPage(CamelModel):
    items: list[Event]
    next_cursor: int


def parse_types(value: str | None, field: str) -> list[str]:
    """`a,b,session.*` into a list; unknown types are a 400 naming the field."""
    types = [t.strip() for t in (value or "").split(",") if t.strip()]
    for t in types:
        if not known_filter(t):
            raise DomainError.one(
                "UNKNOWN_EVENT_TYPE", f"{t!r} is not an event type (see /event_types)", field
            )
    return types


@router.get("/event_types")
async def event_types() -> list[dict[str, Any]]:
    """Every event type with the JSON schema of its `data` (no authentication needed: it is documentation)."""
    custom = {
        "type": CUSTOM,
        "description": "What a process's `notify` step emits, as `process.<event>`.",
        "schema": ProcessEventData.model_json_schema(by_alias=True),
    }
    return [
        *(
            {"type": name, "description": text, "schema": model.model_json_schema(by_alias=True)}
            for name, (text, model) in sorted(CATALOGUE.items())
        ),
        custom,
    ]


@router.get("/events", response_model=EventPage)
async def list_events(
    engine: EngineDep,
    p: Reader,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="Cursor: events after this one.")] = 0,
    type: Annotated[
        str | None,
        Query(description="Comma-separated types; `session.*` for a family.", pattern=FILTER_LIST),
    ] = None,
    subject: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """The log, oldest first; pass `nextCursor` as `after` for the next page."""
    types = parse_types(type, "type")
    items = await run_in_threadpool(
        lambda: events.list_events(engine, p.tenant, after=after, types=types, subject=subject, limit=limit)
    )
    return EventPage(items=items, next_cursor=items[-1].cursor if items else after)
