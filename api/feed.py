"""The live-feed hub: one per API replica, tailing the event log and fanning out to its consumers.

Consumers never slow the hub: each has a bounded queue, and one that lets it overflow (or blocks a
send too long) is cut off with close code 1013 and reconnects from its last cursor. A replica wakes
on PostgreSQL NOTIFY where it can and polls the log otherwise, so every replica sees every event.
Every `live_feed_auth_recheck_seconds` the hub checks the API keys of its connections in one query
and marks those whose key was revoked (or deleted): their routes end them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine

from config.settings import Settings
from domain.events import Event
from domain.feed import FeedFilter
from storage import events, live_feed, tenants
from storage.tables import LiveFeedSubscriptionRow

log = structlog.get_logger(__name__)
PAGE = 500
Send = Callable[[dict[str, Any]], Awaitable[None]]


def event_message(event: Event, subscription_ids: list[str]) -> dict[str, Any]:
    return {
        "type": "event",
        "cursor": event.cursor,
        "subscriptionIds": subscription_ids,
        "event": event.model_dump(mode="json"),
    }


class Connection:
    def __init__(self, tenant: str, buffer: int, key_id: str | None = None) -> None:
        self.id = "conn_" + uuid.uuid4().hex[:16]
        self.tenant = tenant
        self.key_id = key_id  # the API key it was opened with (directly or through a ticket)
        self.filters: dict[str, FeedFilter] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=buffer)
        self.cut_off = asyncio.Event()
        self.revoked = asyncio.Event()
        self.sent_through = 0  # cursor of the last event sent, so replay and live never repeat one

    def offer(self, event: Event) -> None:
        matched = [sid for sid, f in self.filters.items() if f.matches(event)]
        if matched:
            self.push(event_message(event, matched))

    def push(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.cut_off.set()

    async def pump(self, send: Send, send_timeout: float) -> None:
        """Send queued messages in order; a send blocked past `send_timeout` cuts the consumer off."""
        while True:
            message = await self.queue.get()
            if message["type"] == "event" and message["cursor"] <= self.sent_through:
                continue
            try:
                await asyncio.wait_for(send(message), send_timeout)
            except TimeoutError:
                self.cut_off.set()
                return
            if message["type"] == "event":
                self.sent_through = message["cursor"]


class Hub:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.replica = "api_" + uuid.uuid4().hex[:12]
        self.connections: dict[str, Connection] = {}
        self.position = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.position = await asyncio.to_thread(events.last_cursor, self.engine)
        self._tasks = [
            asyncio.create_task(self._tail()),
            asyncio.create_task(self._sync()),
            asyncio.create_task(self._recheck()),
        ]
        if self.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(
            live_feed.remove_ids, self.engine, [sid for c in self.connections.values() for sid in c.filters]
        )

    # Consumers

    def attach(self, conn: Connection) -> None:
        self.connections[conn.id] = conn

    async def detach(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        await asyncio.to_thread(live_feed.remove_ids, self.engine, list(conn.filters))

    async def subscribe(self, conn: Connection, feed_filter: FeedFilter) -> str:
        sid = "lfs_" + uuid.uuid4().hex[:16]
        now = datetime.now(UTC)
        row = LiveFeedSubscriptionRow(
            id=sid,
            tenant_id=conn.tenant,
            replica=self.replica,
            connection=conn.id,
            filters=feed_filter.model_dump(mode="json"),
            created_at=now,
            seen_at=now,
        )
        await asyncio.to_thread(live_feed.register, self.engine, row)
        conn.filters[sid] = feed_filter
        return sid

    async def unsubscribe(self, conn: Connection, sid: str) -> bool:
        if conn.filters.pop(sid, None) is None:
            return False
        await asyncio.to_thread(live_feed.remove_ids, self.engine, [sid])
        return True

    async def too_far_behind(self, tenant: str, cursor: int) -> bool:
        """Whether more than `live_feed_max_backfill` of the tenant's events came after `cursor`."""
        limit = self.settings.live_feed_max_backfill
        return await asyncio.to_thread(live_feed.backlog, self.engine, tenant, cursor, limit + 1) > limit

    async def replay(self, conn: Connection, cursor: int, send: Send) -> None:
        """Send what the consumer missed after `cursor`; call after `attach`, so live events queue."""
        while True:
            page = await asyncio.to_thread(
                events.list_events, self.engine, conn.tenant, after=cursor, limit=PAGE
            )
            for event in page:
                matched = [sid for sid, f in conn.filters.items() if f.matches(event)]
                if matched:
                    await send(event_message(event, matched))
                conn.sent_through = cursor = event.cursor
            if len(page) < PAGE:
                return

    # The log

    async def _tail(self) -> None:
        while True:
            try:
                page = await asyncio.to_thread(events.after, self.engine, self.position, PAGE)
            except Exception as e:  # a database hiccup must not end the feed
                log.warning("live_feed.tail_failed", error=str(e))
                page = []
            for event in page:
                for conn in list(self.connections.values()):
                    if conn.tenant == event.tenant:
                        conn.offer(event)
                self.position = event.cursor
            if len(page) < PAGE:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.live_feed_poll_seconds)

    async def _listen(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {events.NOTIFY_CHANNEL}")
                    async for _ in conn.notifies():
                        self._wake.set()
            except Exception as e:
                log.warning("live_feed.listen_failed", error=str(e))
                await asyncio.sleep(1)

    async def _recheck(self) -> None:
        """Mark the connections whose API key was revoked since they opened."""
        while True:
            await asyncio.sleep(self.settings.live_feed_auth_recheck_seconds)
            held = {c.key_id for c in self.connections.values() if c.key_id and not c.revoked.is_set()}
            if not held:
                continue
            try:
                active = await asyncio.to_thread(tenants.active_key_ids, self.engine, held)
            except Exception as e:  # a database hiccup ends nobody's connection
                log.warning("live_feed.recheck_failed", error=str(e))
                continue
            for conn in list(self.connections.values()):
                if conn.key_id in held - active:
                    log.info("live_feed.key_revoked", tenant=conn.tenant, key_id=conn.key_id)
                    conn.revoked.set()

    async def _sync(self) -> None:
        """Keep this replica's registrations alive and end those deleted through the REST API."""
        while True:
            await asyncio.sleep(1)
            held = {sid for c in self.connections.values() for sid in c.filters}
            try:
                ended = await asyncio.to_thread(
                    live_feed.sync, self.engine, self.replica, held, datetime.now(UTC)
                )
            except Exception as e:
                log.warning("live_feed.sync_failed", error=str(e))
                continue
            for conn in list(self.connections.values()):
                for sid in [s for s in conn.filters if s in ended]:
                    del conn.filters[sid]
                    conn.push({"type": "unsubscribed", "subscriptionId": sid})
