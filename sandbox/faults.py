"""Fault injection shared by every sandbox partner: an error rate, added latency, and downtime (until
turned off, or for a while)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from aiohttp import web


@dataclass
class Faults:
    error_rate: float = 0.0  # share of requests answered 500, from 0 to 1
    latency_ms: int = 0  # added before every answer
    down: bool = False  # every request answered 503
    down_until: float = 0.0  # time.monotonic() before which every request is answered 503

    def _down_for_ms(self) -> int:
        return max(round((self.down_until - time.monotonic()) * 1000), 0)

    async def apply(self) -> web.Response | None:
        """The failure to answer with instead of the real one, if any (after the latency)."""
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        if self.down or self._down_for_ms():
            return web.json_response({"error": "partner is down (sandbox fault)"}, status=503)
        if self.error_rate and random.random() < self.error_rate:
            return web.json_response({"error": "injected failure (sandbox fault)"}, status=500)
        return None

    def as_json(self) -> dict[str, object]:
        return {
            "errorRate": self.error_rate,
            "latencyMs": self.latency_ms,
            "down": self.down,
            "downForMs": self._down_for_ms(),
        }

    def update(self, body: dict[str, object]) -> None:
        """Apply `{errorRate?, latencyMs?, down?, downForMs?}` (`downForMs`: down from now for that
        long, then up by itself); raise ValueError naming a bad field."""
        rate = body.get("errorRate", self.error_rate)
        latency = body.get("latencyMs", self.latency_ms)
        down = body.get("down", self.down)
        down_for = body.get("downForMs", self._down_for_ms())
        if not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("errorRate must be a number from 0 to 1")
        if not isinstance(latency, int) or not 0 <= latency <= 60_000:
            raise ValueError("latencyMs must be a whole number from 0 to 60000")
        if not isinstance(down, bool):
            raise ValueError("down must be true or false")
        if not isinstance(down_for, int) or isinstance(down_for, bool) or not 0 <= down_for <= 3_600_000:
            raise ValueError("downForMs must be a whole number from 0 to 3600000")
        self.error_rate, self.latency_ms, self.down = float(rate), latency, down
        self.down_until = time.monotonic() + down_for / 1000
