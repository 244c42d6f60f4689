"""The live-feed hub on each backend: on PostgreSQL a NOTIFY wakes it; on SQLite it polls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.feed import Connection, Hub
from config.settings import Settings
from domain.feed import FeedFilter
from storage import events
from storage.engine import session_scope
from tests.support import eventually


async def test_a_new_event_reaches_the_hub_of_each_backend(any_engine: Engine) -> None:
    is_postgres = any_engine.dialect.name == "postgresql"
    # On PostgreSQL polling is slowed to a minute, so only the NOTIFY can deliver within the test.
    hub = Hub(any_engine, Settings(live_feed_poll_seconds=60 if is_postgres else 0.05))
    await hub.start()
    try:
        conn = Connection("hub-test", buffer=10)
        conn.filters["all"] = FeedFilter()
        hub.attach(conn)
        if is_postgres:
            await eventually(lambda: asyncio.to_thread(_listening, any_engine), 10, "the hub to LISTEN")
        with session_scope(any_engine) as s:
            appended = events.append(
                s,
                "hub-test",
                "webhook.test",
                "subject",
                {"webhookId": "w", "message": "m"},
                datetime.now(UTC),
            )
        message = await asyncio.wait_for(conn.queue.get(), 10)
        assert message["cursor"] == appended.cursor and message["subscriptionIds"] == ["all"]
    finally:
        await hub.stop()


def _listening(engine: Engine) -> bool:
    """Whether a backend sits in LISTEN: the hub's, as nothing else here listens."""
    with engine.connect() as c:
        return bool(
            c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")).scalar()
        )
