"""Outbound shipments' bookkeeping: a tracking number recorded, so its carrier's events find it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from temporalio import activity

from domain.errors import Unprocessable
from domain.outbound import Track, Tracked
from storage import connectors, logistics


class LogisticsActivities:
    def __init__(self, engine: Engine, public_url: str) -> None:
        self._engine, self._public_url = engine, public_url.rstrip("/")

    @activity.defn(name="track_shipment")
    async def track(self, track: Track) -> Tracked:
        """Record the tracking number at its carrier's connector; the URL the carrier is to POST
        its events to. A carrier that is not a CARRIER connector of the tenant is final."""
        carrier = await asyncio.to_thread(connectors.by_name, self._engine, track.tenant, track.carrier)
        if carrier is None or carrier.kind != "CARRIER":
            raise Unprocessable.one(
                "UNKNOWN_CARRIER", f"the tenant has no CARRIER connector {track.carrier!r}", "carrier"
            )
        await asyncio.to_thread(logistics.track, self._engine, track, carrier.id, datetime.now(UTC))
        return Tracked(callback_url=f"{self._public_url}/partners/{carrier.id}/events")
