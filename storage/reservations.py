"""Reservations: stock a routed fulfillment holds, taken atomically so no unit is promised twice.

A reservation raises its position's `committed` in the same transaction, by a conditional UPDATE
that holds only while the position has the units (on hand, less reserved elsewhere, safety stock and
what is committed already). Concurrent routings serialize on the position's row (PostgreSQL
re-checks the condition after the lock; SQLite has one writer), so of 50 orders for 10 units at most
10 units are committed, whatever the timing. Every reservation is a row with its owner.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col, delete, select

from storage.engine import session_scope
from storage.network import _bump
from storage.tables import InventoryRow, LocationRow, ReservationRow

INVENTORY = InventoryRow.__table__  # type: ignore[attr-defined]
LOCATIONS = LocationRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Hold:
    owner_id: str  # a fulfillment, a selected plan, a pickup session, a change proposal
    location_ref: str
    sku_ref: str
    quantity: int


class Shortage(Exception):
    """A position no longer has the units a hold needs (taken meanwhile): nothing was reserved."""

    def __init__(self, location_ref: str, sku_ref: str) -> None:
        super().__init__(f"{location_ref}/{sku_ref} has not the units any more")
        self.location_ref, self.sku_ref = location_ref, sku_ref


def _id(tenant: str, hold: Hold) -> str:
    seed = f"{tenant}\x00{hold.owner_id}\x00{hold.location_ref}\x00{hold.sku_ref}"
    return "res_" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def reserve(
    engine: Engine,
    tenant: str,
    order_id: str | None,
    holds: Sequence[Hold],
    now: datetime,
    owner_kind: str = "fulfillment",
) -> None:
    """Take every hold, or none (Shortage). A hold its owner has already is kept as it is, so a
    retried routing reserves once. Owners: a routed `fulfillment`, the `plan` selected of fulfilment
    options, a pickup `session`, or a `change` proposal's reservation before its session adopts it."""
    with session_scope(engine) as s:
        conn = s.connection()
        routed: set[tuple[str, str]] = set()  # new (fulfillment, location) pairs
        for hold in holds:
            if s.get(ReservationRow, _id(tenant, hold)) is not None:
                continue
            if owner_kind == "fulfillment":
                routed.add((hold.owner_id, hold.location_ref))
            taken = conn.execute(
                update(INVENTORY)
                .where(
                    and_(
                        INVENTORY.c.tenant_id == tenant,
                        INVENTORY.c.location_ref == hold.location_ref,
                        INVENTORY.c.sku_ref == hold.sku_ref,
                        INVENTORY.c.on_hand
                        - INVENTORY.c.reserved
                        - INVENTORY.c.safety_stock
                        - INVENTORY.c.committed
                        >= hold.quantity,
                    )
                )
                .values(committed=INVENTORY.c.committed + hold.quantity)
            )
            if taken.rowcount != 1:
                raise Shortage(hold.location_ref, hold.sku_ref)  # the transaction rolls back
            s.add(
                ReservationRow(
                    id=_id(tenant, hold),
                    tenant_id=tenant,
                    location_ref=hold.location_ref,
                    sku_ref=hold.sku_ref,
                    quantity=hold.quantity,
                    owner_kind=owner_kind,
                    owner_id=hold.owner_id,
                    order_id=order_id,
                    created_at=now,
                )
            )
        _count_routed(conn, tenant, Counter(location for _, location in routed))


def of_order(engine: Engine, tenant: str, order_id: str) -> list[ReservationRow]:
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(ReservationRow).where(
                    ReservationRow.tenant_id == tenant, ReservationRow.order_id == order_id
                )
            )
        )


def settle(
    engine: Engine,
    tenant: str,
    owner_ids: Sequence[str],
    consumed: bool,
    shipped: Mapping[str, int] | None = None,
) -> int:
    """End the owners' reservations: consumed (the goods left: on hand falls by what `shipped` says
    of each SKU, at most the reservation, all of it when unsaid) or released. Once: the rows go with
    it, so a retry finds nothing to do. The units reserved that it ended."""
    units = 0
    with session_scope(engine) as s:
        conn = s.connection()
        rows = s.exec(
            select(ReservationRow).where(
                ReservationRow.tenant_id == tenant, col(ReservationRow.owner_id).in_(owner_ids)
            )
        ).all()
        released = {
            (r.owner_id, r.location_ref) for r in rows if r.owner_kind == "fulfillment" and not consumed
        }
        freed = Counter(location for _, location in released)
        _count_routed(conn, tenant, {location: -n for location, n in freed.items()})
        for row in rows:
            values = {"committed": _less(INVENTORY.c.committed, row.quantity)}
            if consumed:
                out = min((shipped or {}).get(row.sku_ref, row.quantity), row.quantity)
                values["on_hand"] = _less(INVENTORY.c.on_hand, out)
            conn.execute(
                update(INVENTORY)
                .where(
                    INVENTORY.c.tenant_id == tenant,
                    INVENTORY.c.location_ref == row.location_ref,
                    INVENTORY.c.sku_ref == row.sku_ref,
                )
                .values(**values)
            )
            units += row.quantity
        if rows:
            s.exec(delete(ReservationRow).where(col(ReservationRow.id).in_([r.id for r in rows])))
            if consumed:
                _bump(conn, tenant)  # on hand moved: cached network snapshots are stale
    return units


def _count_routed(conn: Connection, tenant: str, change: Mapping[str, int]) -> None:
    """Count fulfillments routed to (or taken off) locations against their daily capacity; cached
    network snapshots go stale only when that fills a location's capacity or frees it again."""
    flipped = False
    for ref, n in sorted(change.items()):
        if n == 0:
            continue
        where = (LOCATIONS.c.tenant_id == tenant) & (LOCATIONS.c.ref == ref)
        conn.execute(  # first: it takes the row's lock, so what is read next is current
            update(LOCATIONS)
            .where(where)
            .values(routed=_less(LOCATIONS.c.routed, -n) if n < 0 else LOCATIONS.c.routed + n)
        )
        after = conn.execute(select(LOCATIONS.c.body, LOCATIONS.c.routed).where(where)).first()
        if after is None:
            continue
        daily, used = after.body.get("dailyCapacity"), after.body.get("capacityUsed", 0)  # as PUT (aliases)
        if daily is not None and (used + after.routed - n < daily) != (used + after.routed < daily):
            flipped = True
    if flipped:
        _bump(conn, tenant)


def _less(column: Any, units: int) -> Any:
    """`column - units`, never below 0 (on both databases: no GREATEST on SQLite)."""
    return case((column >= units, column - units), else_=0)


def of_position(engine: Engine, tenant: str, location_ref: str, sku_ref: str) -> list[ReservationRow]:
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(ReservationRow)
                .where(
                    ReservationRow.tenant_id == tenant,
                    ReservationRow.location_ref == location_ref,
                    ReservationRow.sku_ref == sku_ref,
                )
                .order_by(col(ReservationRow.created_at), col(ReservationRow.id))
            )
        )


def of_owner(engine: Engine, tenant: str, owner_id: str) -> list[ReservationRow]:
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(ReservationRow)
                .where(ReservationRow.tenant_id == tenant, ReservationRow.owner_id == owner_id)
                .order_by(col(ReservationRow.location_ref), col(ReservationRow.sku_ref))
            )
        )


def adopt(
    engine: Engine, tenant: str, owner_id: str, from_owner: str, targets: Sequence[Hold], now: datetime
) -> None:
    """`owner_id` ends up holding exactly `targets` (owner ids in them are ignored), in one
    transaction: what `from_owner` reserved for it becomes its own, and what it held beyond the
    targets is released. Done again, it finds the targets held and changes nothing. Should a target
    need more than both hold (not reserved beforehand), the units are taken as `reserve` does, or
    nothing happens (Shortage)."""
    with session_scope(engine) as s:
        conn = s.connection()
        rows = s.exec(
            select(ReservationRow).where(
                ReservationRow.tenant_id == tenant, col(ReservationRow.owner_id).in_([owner_id, from_owner])
            )
        ).all()
        held: dict[tuple[str, str], int] = {}
        for row in rows:
            key = (row.location_ref, row.sku_ref)
            held[key] = held.get(key, 0) + row.quantity
        wanted = {(t.location_ref, t.sku_ref): t.quantity for t in targets}
        for key in sorted(held.keys() | wanted.keys()):
            more = wanted.get(key, 0) - held.get(key, 0)
            if more == 0:
                continue
            position = and_(
                INVENTORY.c.tenant_id == tenant,
                INVENTORY.c.location_ref == key[0],
                INVENTORY.c.sku_ref == key[1],
            )
            if more < 0:
                conn.execute(
                    update(INVENTORY).where(position).values(committed=_less(INVENTORY.c.committed, -more))
                )
                continue
            free = (
                INVENTORY.c.on_hand - INVENTORY.c.reserved - INVENTORY.c.safety_stock - INVENTORY.c.committed
            )
            taken = conn.execute(
                update(INVENTORY).where(position, free >= more).values(committed=INVENTORY.c.committed + more)
            )
            if taken.rowcount != 1:
                raise Shortage(*key)  # the transaction rolls back
        if rows:
            s.exec(delete(ReservationRow).where(col(ReservationRow.id).in_([r.id for r in rows])))
            s.flush()
        for (location_ref, sku_ref), quantity in sorted(wanted.items()):
            hold = Hold(owner_id, location_ref, sku_ref, quantity)
            s.add(
                ReservationRow(
                    id=_id(tenant, hold),
                    tenant_id=tenant,
                    location_ref=location_ref,
                    sku_ref=sku_ref,
                    quantity=quantity,
                    owner_kind="session",
                    owner_id=owner_id,
                    created_at=now,
                )
            )
