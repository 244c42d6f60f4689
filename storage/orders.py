"""Orders: tenantOrderId claims, the read models of orders and fulfillments, events, configurations."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.errors import Conflict, FieldError, NotFound
from domain.events import Event
from domain.orders import ACTIVE, Fulfillment, Order, OrderChange
from storage import events
from storage.engine import session_scope, write_scope
from storage.tables import ConfigurationRow, FulfillmentRow, OrderClaimRow, OrderRow

C = TypeVar("C", bound=BaseModel)


class Claimed(Conflict):
    """The tenantOrderId is held by another order (which may be an orphan: see `take_over`)."""

    def __init__(self, holder: OrderClaimRow | None, errors: list[FieldError]) -> None:
        self.holder = holder
        super().__init__(errors)


def claim(engine: Engine, tenant: str, tenant_order_id: str, order_id: str, now: datetime) -> None:
    """Refuse a second active order with this tenantOrderId (409), or hold the id for this one."""
    try:
        with session_scope(engine) as s:
            s.add(
                OrderClaimRow(
                    tenant_id=tenant, tenant_order_id=tenant_order_id, order_id=order_id, claimed_at=now
                )
            )
    except IntegrityError:
        with session_scope(engine) as s:
            holder = s.get(OrderClaimRow, (tenant, tenant_order_id))
        if holder is not None and holder.order_id == order_id:
            return
        raise Claimed(
            holder,
            [
                FieldError(
                    "TENANT_ORDER_ID_IN_USE",
                    f"order {holder.order_id if holder else '?'} with tenantOrderId "
                    f"{tenant_order_id!r} is still open, locked or promised: cancel it first",
                    "tenantOrderId",
                )
            ],
        ) from None


def take_over(
    engine: Engine, tenant: str, tenant_order_id: str, orphan: str, order_id: str, now: datetime
) -> bool:
    """Move a claim from an order that never started to this one; False when it changed meanwhile.
    One conditional UPDATE: of two requests racing for the orphan's id, exactly one wins."""
    with session_scope(engine) as s:
        moved = s.exec(
            update(OrderClaimRow)
            .where(
                col(OrderClaimRow.tenant_id) == tenant,
                col(OrderClaimRow.tenant_order_id) == tenant_order_id,
                col(OrderClaimRow.order_id) == orphan,
            )
            .values(order_id=order_id, claimed_at=now)
        )
        return bool(moved.rowcount == 1)


def release(engine: Engine, tenant: str, tenant_order_id: str, order_id: str) -> None:
    with session_scope(engine) as s:
        row = s.get(OrderClaimRow, (tenant, tenant_order_id))
        if row is not None and row.order_id == order_id:
            s.delete(row)


def record(engine: Engine, change: OrderChange) -> list[Event]:
    """The order's read model, its fulfillments, its events (idempotently), and its claim, together."""
    order = change.order
    written = []
    with session_scope(engine) as s:
        for e in change.events:  # each found instead when written before
            written.append(
                events.append(s, order.tenant, e.type, order.id, e.data, e.at, sequence=e.sequence)
            )
        row = s.get(OrderRow, (order.tenant, order.id))
        body = order.model_dump(mode="json")
        if row is None:
            s.add(
                OrderRow(
                    tenant_id=order.tenant,
                    id=order.id,
                    tenant_order_id=order.tenant_order_id,
                    status=order.status,
                    version=order.version,
                    body=body,
                    created=order.created,
                    last_modified=order.last_modified,
                )
            )
        elif (row.version, row.body.get("lastModified", "")) <= (order.version, body["lastModified"]):
            row.status, row.version, row.body, row.last_modified = (
                order.status,
                order.version,
                body,
                order.last_modified,
            )
        for f in order.fulfillments:
            stored = s.get(FulfillmentRow, (order.tenant, f.id))
            if stored is None:
                s.add(
                    FulfillmentRow(
                        tenant_id=order.tenant, id=f.id, order_id=order.id, body=f.model_dump(mode="json")
                    )
                )
            else:
                stored.body = f.model_dump(mode="json")
        if order.status not in ACTIVE:
            claim_row = s.get(OrderClaimRow, (order.tenant, order.tenant_order_id))
            if claim_row is not None and claim_row.order_id == order.id:
                s.delete(claim_row)
    return written


def get(engine: Engine, tenant: str, order_id: str) -> Order | None:
    with session_scope(engine) as s:
        row = s.get(OrderRow, (tenant, order_id))
    return Order.model_validate(row.body) if row else None


def list_orders(
    engine: Engine, tenant: str, status: str | None, tenant_order_id: str | None, limit: int, offset: int
) -> tuple[list[Order], int]:
    where = [OrderRow.tenant_id == tenant]
    if status:
        where.append(OrderRow.status == status)
    if tenant_order_id:
        where.append(OrderRow.tenant_order_id == tenant_order_id)
    with session_scope(engine) as s:
        total = s.exec(select(func.count()).select_from(OrderRow).where(*where)).one()
        rows = s.exec(
            select(OrderRow).where(*where).order_by(col(OrderRow.created).desc()).offset(offset).limit(limit)
        ).all()
    return [Order.model_validate(r.body) for r in rows], total


def ids_with_status(engine: Engine, tenant: str, status: str) -> list[str]:
    with session_scope(engine) as s:
        rows = s.exec(select(OrderRow.id).where(OrderRow.tenant_id == tenant, OrderRow.status == status))
        return list(rows)


def fulfillment(engine: Engine, tenant: str, fulfillment_id: str) -> Fulfillment:
    with session_scope(engine) as s:
        row = s.get(FulfillmentRow, (tenant, fulfillment_id))
    if row is None:
        raise NotFound([FieldError("FULFILLMENT_NOT_FOUND", f"no fulfillment {fulfillment_id!r}", "id")])
    return Fulfillment.model_validate(row.body)


def config(engine: Engine, tenant: str, name: str, model: type[C]) -> C:
    with session_scope(engine) as s:
        row = s.get(ConfigurationRow, (tenant, name))
    return model.model_validate(row.body) if row else model()


def save_config(engine: Engine, tenant: str, name: str, new: C) -> C:
    """Optimistic locking on `version`: the caller sends the version it read; of concurrent writers
    with one version exactly one wins (the row is locked while it is compared and written)."""
    with write_scope(engine, "configuration") as s:
        row = s.get(ConfigurationRow, (tenant, name), with_for_update=True)
        current = type(new).model_validate(row.body) if row else type(new)()
        version = int(getattr(current, "version"))  # noqa: B009
        if version != getattr(new, "version"):  # noqa: B009
            message = f"the configuration is at version {version}"
            raise Conflict([FieldError("VERSION_CONFLICT", message, "version")])
        saved = new.model_copy(update={"version": version + 1})
        if row is None:
            s.add(ConfigurationRow(tenant_id=tenant, name=name, body=saved.model_dump(mode="json")))
        else:
            row.body = saved.model_dump(mode="json")
    return saved
