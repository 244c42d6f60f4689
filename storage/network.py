"""Locations, inventory and the sourcing profile: bulk upserts, reads, and the network snapshot."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col, select

from domain.errors import Conflict, FieldError, NotFound
from domain.sourcing.model import InventoryPosition, Location, SourcingProfile
from domain.sourcing.network import Network
from domain.sourcing.options import Snapshot
from storage.engine import dialect_insert, session_scope, write_scope
from storage.tables import InventoryRow, LocationRow, NetworkVersionRow, SourcingProfileRow

BATCH = 2000


def _upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]) -> None:
    """INSERT .. ON CONFLICT DO UPDATE, in batches, on SQLite and PostgreSQL alike."""
    insert = dialect_insert(conn)
    for start in range(0, len(rows), BATCH):
        statement = insert(table).values(list(rows[start : start + BATCH]))
        given = set(rows[start])  # a column the rows leave out keeps its value (an inventory's commitments)
        updates = {
            c.name: statement.excluded[c.name]
            for c in table.columns
            if c.name in given and c.name not in keys
        }
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


def _bump(conn: Connection, tenant: str) -> None:
    table = NetworkVersionRow.__table__  # type: ignore[attr-defined]
    statement = dialect_insert(conn)(table).values(tenant_id=tenant, version=1)
    conn.execute(
        statement.on_conflict_do_update(index_elements=["tenant_id"], set_={"version": table.c.version + 1})
    )


def upsert_locations(engine: Engine, tenant: str, locations: Sequence[Location], now: datetime) -> int:
    rows = [
        # A PUT gives the location whole: `capacityUsed` is what it says, and the routing count restarts.
        {
            "tenant_id": tenant,
            "ref": loc.ref,
            "body": loc.model_dump(mode="json"),
            "routed": 0,
            "updated_at": now,
        }
        for loc in locations
    ]
    with engine.begin() as conn:
        _upsert(conn, LocationRow.__table__, rows, ["tenant_id", "ref"])  # type: ignore[attr-defined]
        _bump(conn, tenant)
    return len(rows)


def upsert_inventory(
    engine: Engine, tenant: str, positions: Sequence[InventoryPosition], now: datetime
) -> int:
    rows = [
        {
            "tenant_id": tenant,
            "location_ref": p.location_ref,
            "sku_ref": p.sku_ref,
            "on_hand": p.on_hand,
            "reserved": p.reserved,
            "safety_stock": p.safety_stock,
            "updated_at": now,
        }
        for p in positions
    ]
    with engine.begin() as conn:
        _upsert(conn, InventoryRow.__table__, rows, ["tenant_id", "location_ref", "sku_ref"])  # type: ignore[attr-defined]
        _bump(conn, tenant)
    return len(rows)


def version(engine: Engine, tenant: str) -> int:
    """The tenant's network version: one primary-key read, on every options request."""
    with engine.connect() as conn:
        return conn.execute(_VERSION, {"tenant": tenant}).scalar() or 0


_VERSION = select(NetworkVersionRow.version).where(NetworkVersionRow.tenant_id == bindparam("tenant"))


def locations(engine: Engine, tenant: str, limit: int | None = None, offset: int = 0) -> list[Location]:
    with session_scope(engine) as s:
        query = select(LocationRow).where(LocationRow.tenant_id == tenant).order_by(col(LocationRow.ref))
        if limit is not None:
            query = query.offset(offset).limit(limit)
        return [_location(row) for row in s.exec(query)]


def locations_named(engine: Engine, tenant: str, refs: Iterable[str]) -> dict[str, Location]:
    """The named locations (those that exist), by ref."""
    with session_scope(engine) as s:
        named = col(LocationRow.ref).in_(sorted(set(refs)))
        rows = s.exec(select(LocationRow).where(LocationRow.tenant_id == tenant, named)).all()
    return {r.ref: _location(r) for r in rows}


def has_location(engine: Engine, tenant: str, ref: str) -> bool:
    with session_scope(engine) as s:
        return s.get(LocationRow, (tenant, ref)) is not None


def location(engine: Engine, tenant: str, ref: str) -> Location:
    with session_scope(engine) as s:
        row = s.get(LocationRow, (tenant, ref))
    if row is None:
        raise NotFound([FieldError("LOCATION_NOT_FOUND", f"no location {ref!r}", "ref")])
    return _location(row)


def _location(row: LocationRow) -> Location:
    """The location as PUT, its `capacityUsed` counting the fulfillments routed there since."""
    found = Location.model_validate(row.body)
    if row.routed:
        found = found.model_copy(update={"capacity_used": found.capacity_used + row.routed})
    return found


def inventory(
    engine: Engine,
    tenant: str,
    sku_ref: str | None = None,
    location_ref: str | None = None,
    limit: int | None = 1000,
    offset: int = 0,
    skus: list[str] | None = None,
) -> list[InventoryPosition]:
    with session_scope(engine) as s:
        query = select(InventoryRow).where(InventoryRow.tenant_id == tenant)
        if sku_ref:
            query = query.where(InventoryRow.sku_ref == sku_ref)
        if skus is not None:
            query = query.where(col(InventoryRow.sku_ref).in_(skus))
        if location_ref:
            query = query.where(InventoryRow.location_ref == location_ref)
        query = query.order_by(col(InventoryRow.location_ref), col(InventoryRow.sku_ref))
        rows = s.exec(query.offset(offset).limit(limit))
        return [shown(r) for r in rows]


def shown(row: InventoryRow) -> InventoryPosition:
    """A position as the API shows it: `reserved` counts the orchestrator's reservations too."""
    return InventoryPosition(
        location_ref=row.location_ref,
        sku_ref=row.sku_ref,
        on_hand=row.on_hand,
        reserved=row.reserved + row.committed,
        safety_stock=row.safety_stock,
        reserved_by_orders=row.committed,
    )


def available(engine: Engine, tenant: str, skus: Iterable[str]) -> dict[str, dict[str, int]]:
    """Available stock of the SKUs (on hand less reserved and safety stock), by location and SKU."""
    found: dict[str, dict[str, int]] = {}
    for p in inventory(engine, tenant, limit=None, skus=sorted(set(skus))):
        found.setdefault(p.location_ref, {})[p.sku_ref] = p.available
    return found


def all_positions(engine: Engine, tenant: str) -> Iterable[tuple[str, str, int]]:
    """(location, sku, available) for every position: what a network snapshot is built from."""
    table = InventoryRow.__table__  # type: ignore[attr-defined]
    columns = (
        table.c.location_ref,
        table.c.sku_ref,
        table.c.on_hand,
        table.c.reserved,
        table.c.safety_stock,
        table.c.committed,
    )
    query = table.select().with_only_columns(*columns).where(table.c.tenant_id == tenant)
    with engine.connect() as conn:
        for ref, sku, on_hand, reserved, safety, committed in conn.execute(query):
            yield ref, sku, max(on_hand - reserved - safety - committed, 0)


def profile(engine: Engine, tenant: str) -> SourcingProfile:
    with session_scope(engine) as s:
        row = s.get(SourcingProfileRow, tenant)
    return SourcingProfile.model_validate(row.body) if row else SourcingProfile()


def save_profile(
    engine: Engine, tenant: str, new: SourcingProfile, expected_version: int, now: datetime
) -> SourcingProfile:
    """Optimistic locking: the caller sends the version it read; a stale one is a conflict, and of
    concurrent writers with one version exactly one wins (the row is locked while it is compared)."""
    with write_scope(engine, "sourcing profile") as s:
        row = s.get(SourcingProfileRow, tenant, with_for_update=True)
        current = SourcingProfile.model_validate(row.body) if row else SourcingProfile()
        if current.version != expected_version:
            raise Conflict(
                [FieldError("VERSION_CONFLICT", f"the profile is at version {current.version}", "version")]
            )
        saved = new.model_copy(update={"version": current.version + 1})
        if row is None:
            s.add(SourcingProfileRow(tenant_id=tenant, body=saved.model_dump(mode="json"), updated_at=now))
        else:
            row.body, row.updated_at = saved.model_dump(mode="json"), now
        _bump(s.connection(), tenant)  # cached snapshots hold the profile too
    return saved


class NetworkCache:
    """Each tenant's network snapshot, kept per process (API replica, worker) and rebuilt when the
    tenant's network version moves.

    Every write of locations, inventory or the profile bumps the version in its own transaction, so
    one primary-key read per request tells whether a snapshot is current, whichever replica wrote.
    A build reads the version before the rows: a write committing meanwhile leaves the snapshot
    labelled older than its data, and the next request builds again. Thread-safe; at most `tenants`
    snapshots are kept, the least recently used going first.
    """

    def __init__(self, engine: Engine, tenants: int = 16) -> None:
        self._engine, self._tenants = engine, tenants
        self._cached: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()  # guards _cached and _building
        # One build at a time per tenant (a stale snapshot is built once); other tenants go on.
        self._building: dict[str, threading.Lock] = {}

    def snapshot(self, tenant: str) -> Snapshot:
        found = self._current(tenant, version(self._engine, tenant))
        if found is not None:
            return found
        with self._lock:
            building = self._building.setdefault(tenant, threading.Lock())
        with building:
            current = version(self._engine, tenant)
            found = self._current(tenant, current)
            if found is not None:
                return found
            located = locations(self._engine, tenant)
            built = Snapshot(
                version=current,
                network=Network.build(located, all_positions(self._engine, tenant)),
                profile=profile(self._engine, tenant),
                coordinates={loc.ref: (loc.latitude, loc.longitude) for loc in located},
            )
            with self._lock:
                self._cached[tenant] = built
                while len(self._cached) > self._tenants:
                    dropped, _ = self._cached.popitem(last=False)
                    self._building.pop(dropped, None)
            return built

    def get(self, tenant: str) -> Network:
        """The network alone (order routing)."""
        return self.snapshot(tenant).network

    def _current(self, tenant: str, current: int) -> Snapshot | None:
        with self._lock:
            found = self._cached.get(tenant)
            if found is None or found.version != current:
                return None
            self._cached.move_to_end(tenant)
            return found
