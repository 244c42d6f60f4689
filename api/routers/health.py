"""Health: 200 only when the database answers, Temporal answers and a worker polls the task queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.deps import EngineDep, SettingsDep, TemporalDep
from storage.engine import ping

router = APIRouter(tags=["health"])
# An idle worker long-polls for about a minute, then polls again: older than this means gone.
POLLER_FRESH = timedelta(seconds=90)


@router.get("/health")
async def health(engine: EngineDep, client: TemporalDep, settings: SettingsDep) -> JSONResponse:
    checks: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.wait_for(run_in_threadpool(ping, engine), 5)
        checks["database"] = {"ok": True}
    except Exception as e:
        checks["database"] = {"ok": False, "error": type(e).__name__}
    try:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=5),
        )
        checks["temporal"] = {"ok": True}
        now = datetime.now(UTC)
        live = [
            p.identity
            for p in response.pollers
            if now - p.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESH
        ]
        checks["worker"] = {"ok": bool(live), "pollers": live, "taskQueue": settings.task_queue}
    except Exception as e:
        checks["temporal"] = {"ok": False, "error": type(e).__name__}
        checks["worker"] = {"ok": False, "error": "temporal unreachable"}
    missing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not missing else "unavailable", "missing": missing, "checks": checks}
    return JSONResponse(body, status_code=503 if missing else 200)
