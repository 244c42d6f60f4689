"""Who a committed event goes to: the webhooks and the devices that asked for it, in one read.

Every event of every change asks this, so it is one connection and two narrow Core selects rather
than ORM rows: most tenants have few webhooks and the answer is often "nobody".
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from domain.events import Event, wanted_by
from domain.feed import FeedFilter
from storage.tables import DeviceTokenRow, WebhookRow

WEBHOOKS = WebhookRow.__table__  # type: ignore[attr-defined]
DEVICES = DeviceTokenRow.__table__  # type: ignore[attr-defined]
# Built once: building a statement per call costs more than running it.
_HOOKS = select(WEBHOOKS.c.id, WEBHOOKS.c.start_cursor, WEBHOOKS.c.event_types).where(
    WEBHOOKS.c.tenant_id == bindparam("tenant"), WEBHOOKS.c.enabled
)
_DEVICES = select(DEVICES.c.id, DEVICES.c.filters).where(
    DEVICES.c.tenant_id == bindparam("tenant"), DEVICES.c.active
)


@dataclass(frozen=True)
class Audience:
    webhook_ids: list[str]
    device_ids: list[str]


def audience(engine: Engine, event: Event) -> Audience:
    """The enabled webhooks subscribed before the event that take its type, and the active devices
    whose filter matches it."""
    with engine.connect() as conn:
        hooks = conn.execute(_HOOKS, {"tenant": event.tenant}).all()
        devices = conn.execute(_DEVICES, {"tenant": event.tenant}).all()
    return Audience(
        webhook_ids=[
            h.id
            for h in hooks
            if h.start_cursor < event.cursor and wanted_by(event.type, event.subject, h.id, h.event_types)
        ],
        device_ids=[d.id for d in devices if FeedFilter.model_validate(d.filters).matches(event)],
    )
