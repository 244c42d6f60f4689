"""Pricing quotes, kept as they were returned (one transaction per pricing request), and shipments'
tracking numbers at their carriers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from domain.errors import Unprocessable
from domain.logistics import Quote
from domain.outbound import Promise, Track, promise_of
from storage.engine import session_scope
from storage.tables import QuoteRow, TrackingRow


def keep_quotes(
    engine: Engine, tenant: str, request: dict[str, Any], quotes: list[Quote], now: datetime
) -> None:
    with session_scope(engine) as s:
        for q in quotes:
            s.add(
                QuoteRow(
                    id=q.quote_id,
                    tenant_id=tenant,
                    provider=q.provider,
                    service_type=q.service_type,
                    rate_type=q.rate_type,
                    amount=q.price.amount,
                    currency=q.price.currency,
                    eta_days=q.eta_days,
                    request=request,
                    created_at=now,
                    expires_at=q.expires_at,
                )
            )


def promise(engine: Engine, tenant: str, quote_id: str | None, carrier: str | None) -> Promise | None:
    """The delivery date a quote promised (None without a quote); the quote must be the tenant's,
    and the carrier's when one is named (Unprocessable, naming `quoteId`, otherwise)."""
    if quote_id is None:
        return None
    with session_scope(engine) as s:
        quote = s.get(QuoteRow, quote_id)
    if quote is None or quote.tenant_id != tenant:
        raise Unprocessable.one("UNKNOWN_QUOTE", f"no quote {quote_id!r}", "quoteId")
    if carrier is not None and quote.provider != carrier:
        raise Unprocessable.one(
            "QUOTE_OF_ANOTHER_CARRIER",
            f"quote {quote_id} was given by {quote.provider}, not {carrier}",
            "quoteId",
        )
    return promise_of(quote.id, quote.provider, quote.created_at, quote.eta_days)


def track(engine: Engine, t: Track, connector_id: str, now: datetime) -> None:
    """The tracking number is this shipment's (the newest one under a number the carrier reused)."""
    fields = {"session_id": t.session_id, "order_id": t.order_id, "fulfillment_id": t.fulfillment_id}
    with session_scope(engine) as s:
        row = s.get(TrackingRow, (t.tenant, connector_id, t.tracking_number))
        if row is None:
            s.add(
                TrackingRow(
                    tenant_id=t.tenant,
                    connector_id=connector_id,
                    tracking_number=t.tracking_number,
                    session_id=t.session_id,
                    order_id=t.order_id,
                    fulfillment_id=t.fulfillment_id,
                    created_at=now,
                )
            )
        else:
            row.sqlmodel_update({**fields, "created_at": now})
