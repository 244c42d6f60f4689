"""Group commit for activities: the database calls that concurrent activities make while one batch
is in the database are run together as the next batch, in one thread hop and one transaction.

Why: a busy dispatcher runs up to `concurrency` attempts at once, and concurrent actions make their
inline first attempts at once, each attempt with a read and a write. One transaction per call queued
them behind each other on the worker's database threads (SQLite takes one writer at a time), and
that queue, not the HTTP calls, set how fast an endpoint was served.
Nothing waits to fill a batch: a call made while the database is idle goes at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
R = TypeVar("R")

log = structlog.get_logger(__name__)


class Batched(Generic[T, R]):
    """`await batched(item)` → `run([item, …])[i]`, `run` being called in a thread with every item
    submitted while the previous call ran. Should a batch fail, its items are run one by one, so one
    bad item fails only its own caller."""

    def __init__(self, run: Callable[[list[T]], Sequence[R]], limit: int = 64) -> None:
        self._run, self._limit = run, limit
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._draining is None:
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._limit], self._queue[self._limit :]
                await self._settle(batch)
        finally:
            self._draining = None

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await asyncio.to_thread(self._run, items)
        except Exception as e:
            if len(batch) == 1:
                _resolve(batch[0][1], error=e)
                return
            log.warning("batch.failed", items=len(batch), error=f"{type(e).__name__}: {e}")
            for one in batch:
                await self._settle([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            _resolve(future, result=result)


def _resolve(future: asyncio.Future[R], result: R | None = None, error: BaseException | None = None) -> None:
    if future.done():  # its caller was cancelled (the activity timed out)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
