"""Concurrent writers on both backends: optimistic locking and claim take-overs never lose an update."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy.engine import Engine

from domain.errors import Conflict
from domain.orders import FulfillableConfig
from domain.sourcing.model import InventoryPosition, Location, SourcingProfile
from storage import network, orders, reservations, webhooks
from storage.reservations import Hold, Shortage


def _race(calls: Sequence[Callable[[], object]]) -> list[object]:
    """Run the calls at once on threads (a barrier lines them up); each result or the exception raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return call()
        except Exception as e:
            return e

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.mark.parametrize("writers", [8])
def test_of_concurrent_writers_with_one_version_exactly_one_wins(any_engine: Engine, writers: int) -> None:
    tenant = f"lock-{uuid.uuid4().hex[:6]}"
    config = [
        partial(
            orders.save_config, any_engine, tenant, "fulfillable", FulfillableConfig(grace_period_seconds=n)
        )
        for n in range(writers)
    ]
    results = _race(config)
    won = [r for r in results if isinstance(r, FulfillableConfig)]
    assert len(won) == 1 and all(isinstance(r, Conflict) for r in results if r not in won), results
    stored = orders.config(any_engine, tenant, "fulfillable", FulfillableConfig)
    assert stored.version == 2 and stored.grace_period_seconds == won[0].grace_period_seconds

    now = datetime.now(UTC)
    network.save_profile(any_engine, tenant, SourcingProfile(), 1, now)  # now at version 2
    profile = [
        partial(network.save_profile, any_engine, tenant, SourcingProfile(version=2, max_split=n % 5), 2, now)
        for n in range(writers)
    ]
    results = _race(profile)
    assert sum(isinstance(r, SourcingProfile) for r in results) == 1, results
    assert all(isinstance(r, SourcingProfile | Conflict) for r in results), results


def test_of_concurrent_take_overs_of_an_orphaned_claim_exactly_one_wins(any_engine: Engine) -> None:
    tenant, now = f"claim-{uuid.uuid4().hex[:6]}", datetime.now(UTC)
    orders.claim(any_engine, tenant, "T-1", "orphan", now)
    takers = [
        partial(orders.take_over, any_engine, tenant, "T-1", "orphan", f"new-{n}", now) for n in range(8)
    ]
    results = _race(takers)
    assert results.count(True) == 1 and results.count(False) == 7, results


def test_a_recovery_goes_in_bounded_steps(any_engine: Engine) -> None:
    tenant, now = f"rec-{uuid.uuid4().hex[:6]}", datetime.now(UTC)
    hook = webhooks.create(any_engine, tenant, "https://example.com/h", [], "", now)
    for _ in range(5):
        webhooks.append_test_event(any_engine, tenant, hook.id, now)  # one timestamp for all five
    since = now - timedelta(minutes=1)
    step = webhooks.rewind(any_engine, tenant, hook.id, since, 0, 3)
    assert step.events == 3 and step.next_cursor is not None
    rest = webhooks.rewind(any_engine, tenant, hook.id, since, step.next_cursor, 3)
    assert rest.events == 2 and rest.next_cursor is None


def test_fifty_concurrent_reservations_for_ten_units_commit_ten(any_engine: Engine) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    positions = [InventoryPosition(location_ref="WH", sku_ref="SKU", on_hand=12, reserved=1, safety_stock=1)]
    network.upsert_inventory(any_engine, tenant, positions, now)
    holds = [Hold(owner_id=f"f-{n}", location_ref="WH", sku_ref="SKU", quantity=1) for n in range(50)]
    results = _race(
        [partial(reservations.reserve, any_engine, tenant, f"o-{h.owner_id}", [h], now) for h in holds]
    )
    assert sum(r is None for r in results) == 10  # 12 on hand, 1 reserved elsewhere, 1 safety stock
    assert all(isinstance(r, Shortage) for r in results if r is not None)
    (shown,) = network.inventory(any_engine, tenant)
    assert (shown.reserved, shown.reserved_by_orders, shown.available) == (11, 10, 0)
    assert len(reservations.of_position(any_engine, tenant, "WH", "SKU")) == 10

    network.upsert_inventory(any_engine, tenant, positions, now)  # a stock feed keeps the commitments
    assert network.inventory(any_engine, tenant)[0].reserved_by_orders == 10
    mine = [r.owner_id for r in reservations.of_position(any_engine, tenant, "WH", "SKU")]
    assert reservations.settle(any_engine, tenant, mine[:3], consumed=True) == 3  # shipped
    assert reservations.settle(any_engine, tenant, mine[:3], consumed=True) == 0  # once
    assert reservations.settle(any_engine, tenant, mine[3:5], consumed=False) == 2  # cancelled
    (after,) = network.inventory(any_engine, tenant)
    assert (after.on_hand, after.reserved_by_orders, after.available) == (9, 5, 2)


def test_a_session_adopts_its_changes_stock_and_gives_back_the_rest_in_one_transaction(
    any_engine: Engine,
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    stock = [
        InventoryPosition(location_ref=ref, sku_ref=sku, on_hand=5)
        for ref in ("A", "B")
        for sku in ("S", "T")
    ]
    network.upsert_inventory(any_engine, tenant, stock, now)

    def committed() -> dict[tuple[str, str], int]:
        return {
            (p.location_ref, p.sku_ref): p.reserved_by_orders for p in network.inventory(any_engine, tenant)
        }

    def held(owner: str) -> list[tuple[str, str, int]]:
        return [
            (r.location_ref, r.sku_ref, r.quantity) for r in reservations.of_owner(any_engine, tenant, owner)
        ]

    session = [Hold("ses", "A", "S", 2), Hold("ses", "A", "T", 1)]
    reservations.reserve(any_engine, tenant, None, session, now, owner_kind="session")
    # The change moves the pickup to B with 3 of S: it reserves them first, as its own.
    reservations.reserve(any_engine, tenant, None, [Hold("chg", "B", "S", 3)], now, owner_kind="change")
    target = [Hold("ses", "B", "S", 3)]
    reservations.adopt(any_engine, tenant, "ses", "chg", target, now)
    assert held("ses") == [("B", "S", 3)] and held("chg") == []
    assert committed() == {("A", "S"): 0, ("A", "T"): 0, ("B", "S"): 3, ("B", "T"): 0}
    reservations.adopt(any_engine, tenant, "ses", "chg", target, now)  # a retry: nothing moves
    assert committed()[("B", "S")] == 3 and held("ses") == [("B", "S", 3)]

    # Staying at B with one more of S than the change reserved (taken since): nothing moves at all.
    network.upsert_inventory(
        any_engine, tenant, [InventoryPosition(location_ref="B", sku_ref="S", on_hand=3)], now
    )
    with pytest.raises(Shortage):
        reservations.adopt(any_engine, tenant, "ses", "chg", [Hold("ses", "B", "S", 4)], now)
    assert held("ses") == [("B", "S", 3)] and committed()[("B", "S")] == 3
    # Fewer units at the same place: the rest goes back.
    reservations.adopt(any_engine, tenant, "ses", "chg", [Hold("ses", "B", "S", 1)], now)
    assert held("ses") == [("B", "S", 1)] and committed()[("B", "S")] == 1


def test_routed_fulfillments_fill_a_locations_capacity_and_a_release_frees_it(any_engine: Engine) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    store = Location(ref="L", type="STORE", latitude=52.0, longitude=5.0, daily_capacity=2, capacity_used=0)
    network.upsert_locations(any_engine, tenant, [store], now)
    network.upsert_inventory(
        any_engine, tenant, [InventoryPosition(location_ref="L", sku_ref="S", on_hand=9)], now
    )

    def used() -> int:
        return network.location(any_engine, tenant, "L").capacity_used

    start = network.version(any_engine, tenant)
    reservations.reserve(any_engine, tenant, "o1", [Hold("f1", "L", "S", 1)], now)
    reservations.reserve(any_engine, tenant, "o1", [Hold("f1", "L", "S", 1)], now)  # a retry: counted once
    assert used() == 1 and network.version(any_engine, tenant) == start  # not full: snapshots stay
    reservations.reserve(any_engine, tenant, "o2", [Hold("f2", "L", "S", 2)], now)
    assert used() == 2 and network.version(any_engine, tenant) == start + 1  # full: snapshots go stale
    reservations.settle(any_engine, tenant, ["f1"], consumed=True)  # shipped: the capacity was used
    assert used() == 2
    reservations.settle(any_engine, tenant, ["f2"], consumed=False)  # cancelled: it frees its place
    assert used() == 1 and network.version(any_engine, tenant) > start + 1
