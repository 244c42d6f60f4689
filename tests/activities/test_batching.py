"""Group commit: calls made while a batch is in the database go together as the next one, and one bad
item fails only its own caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

from activities.batching import Batched


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()

    def run(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release_first.wait(10)
        if any(i < 0 for i in items):
            raise ValueError(f"bad item in {items}")
        return [i * 10 for i in items]


async def test_calls_made_while_a_batch_runs_go_together_as_the_next_batch() -> None:
    recorder = Recorder()
    batched = Batched(recorder.run)
    first = asyncio.create_task(batched(1))
    assert await asyncio.to_thread(recorder.first_started.wait, 10)
    rest = [asyncio.create_task(batched(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)  # let them queue (none can run: the first batch holds the drain)
    recorder.release_first.set()
    assert await first == 10
    assert [await t for t in rest] == [20, 30, 40]
    assert recorder.batches == [[1], [2, 3, 4]]


async def test_a_bad_item_fails_only_its_own_caller() -> None:
    recorder = Recorder()
    recorder.release_first.set()
    batched = Batched(recorder.run)
    results = await asyncio.gather(batched(1), batched(-1), batched(2), return_exceptions=True)
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], ValueError)
    # the batch of three failed, then each went alone
    assert recorder.batches == [[1, -1, 2], [1], [-1], [2]]


async def test_batches_are_bounded() -> None:
    recorder = Recorder()
    recorder.release_first.set()
    batched = Batched(recorder.run, limit=2)
    assert await asyncio.gather(*(batched(n) for n in range(5))) == [0, 10, 20, 30, 40]
    assert [len(b) for b in recorder.batches] == [2, 2, 1]


async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    recorder = Recorder()
    batched = Batched(recorder.run)
    first = asyncio.create_task(batched(1))
    assert await asyncio.to_thread(recorder.first_started.wait, 10)
    second = asyncio.create_task(batched(2))
    await asyncio.sleep(0)
    first.cancel()
    recorder.release_first.set()
    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first
