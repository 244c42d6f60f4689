"""Pricing quotes, kept as they were returned (one transaction per pricing request)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from domain.logistics import Quote
from storage.engine import session_scope
from storage.tables import QuoteRow


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
