"""What a fake partner received, with a way to wait until enough has arrived."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self.items: list[T] = []
        self._arrived = asyncio.Condition()

    async def add(self, item: T) -> None:
        async with self._arrived:
            self.items.append(item)
            self._arrived.notify_all()

    async def wait_for(
        self, count: int, within: float = 30, where: Callable[[T], bool] = lambda _: True
    ) -> list[T]:
        """The items for which `where` holds, once there are `count` of them; fail after `within` seconds."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len([i for i in self.items if where(i)]) >= count)
        return [i for i in self.items if where(i)]
