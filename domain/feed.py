"""Live-feed subscription filters: which events a subscriber wants."""

from __future__ import annotations

from pydantic import Field

from domain.events import Event, matches
from domain.model import CamelModel


class FeedFilter(CamelModel):
    """Each given list narrows the feed; an empty filter takes every event of the tenant."""

    session_ids: list[str] = Field(default_factory=list, max_length=1000)
    cart_ids: list[str] = Field(default_factory=list, max_length=1000)
    event_types: list[str] = Field(default_factory=list, max_length=100)

    def matches(self, event: Event) -> bool:
        if self.session_ids and event.data.get("sessionId", event.subject) not in self.session_ids:
            return False
        if self.cart_ids and event.data.get("cartId") not in self.cart_ids:
            return False
        return matches(event.type, self.event_types)

    @classmethod
    def from_query(cls, session_ids: str | None, cart_ids: str | None, event_types: str | None) -> FeedFilter:
        def split(value: str | None) -> list[str]:
            return [v.strip() for v in (value or "").split(",") if v.strip()]

        return cls(session_ids=split(session_ids), cart_ids=split(cart_ids), event_types=split(event_types))
