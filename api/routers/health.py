"""Health: 200 only when the database answers, Temporal answers and a worker polls the task queue."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import EngineDep, SettingsDep, TemporalDep
from clients.temporal import live_pollers
from storage.engine import ping

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(engine: EngineDep, client: TemporalDep, settings: SettingsDep) -> JSONResponse:
    checks: dict[str, dict[str, Any]] = {}
    try:
        await asyncio.wait_for(run_in_threadpool(ping, engine), 5)
        checks["database"] = {"ok": True}
    except Exception as e:
        checks["database"] = {"ok": False, "error": type(e).__name__}
    try:
        live = await live_pollers(client, settings.task_queue)
        checks["temporal"] = {"ok": True}
        checks["worker"] = {"ok": bool(live), "pollers": live, "taskQueue": settings.task_queue}
    except Exception as e:
        checks["temporal"] = {"ok": False, "error": type(e).__name__}
        checks["worker"] = {"ok": False, "error": "temporal unreachable"}
    missing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not missing else "unavailable", "missing": missing, "checks": checks}
    return JSONResponse(body, status_code=503 if missing else 200)
