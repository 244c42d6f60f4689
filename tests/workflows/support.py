"""Running one workflow with stand-in activities on the time-skipping server, and keeping its history.

A stand-in registers under the real activity's name, read off the real definition, so the workflow
calls it exactly as it calls the real one. With FULFILLMENT_RECORD_HISTORIES=1 (`make histories`),
`keep` writes each finished scenario's history to tests/histories/current/. The replay test replays
those and the histories of earlier releases (tests/histories/release-*/, never rewritten), so a
workflow change must stay compatible with what is running in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
CURRENT = HISTORIES / "current"  # what `make histories` records; release-* folders are kept as they are
F = TypeVar("F", bound=Callable[..., Any])


def stand_in(real: Callable[..., Any]) -> Callable[[F], F]:
    """Register the decorated function as a stand-in for `real` (same activity name)."""
    name = activity._Definition.must_from_callable(real).name
    return activity.defn(name=name)


@asynccontextmanager
async def worker(
    env: WorkflowEnvironment, workflows: Sequence[type], activities: Sequence[Callable[..., Any]]
) -> AsyncIterator[str]:
    """A worker on a queue of its own for the block; yields the queue's name."""
    queue = f"wf-{uuid.uuid4().hex[:10]}"
    async with Worker(env.client, task_queue=queue, workflows=workflows, activities=activities):
        yield queue


async def keep(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """Save the workflow's history as tests/histories/NAME.json when recording is asked for."""
    if os.environ.get("FULFILLMENT_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    CURRENT.mkdir(parents=True, exist_ok=True)
    (CURRENT / f"{name}.json").write_text(history.to_json() + "\n")
