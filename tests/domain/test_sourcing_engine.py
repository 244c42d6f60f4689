"""The sourcing engine on networks built by hand, where the right plan is known."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.sourcing import exact
from domain.sourcing.engine import prepare, search, source
from domain.sourcing.eta import format_hours, normalize_eta
from domain.sourcing.model import InventoryPosition, Line, Location, SourcingProfile, SourcingRequest
from domain.sourcing.network import Network

WEDNESDAY_NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def loc(ref: str, lon: float, **kw: Any) -> Location:
    return Location(ref=ref, type=kw.pop("type", "STORE"), latitude=0.0, longitude=lon, **kw)


def stock(ref: str, **skus: int) -> list[InventoryPosition]:
    return [InventoryPosition(location_ref=ref, sku_ref=s, on_hand=q) for s, q in skus.items()]


def hd(*lines: tuple[str, int], **kw: Any) -> SourcingRequest:
    kw.setdefault("handling_time", WEDNESDAY_NOON)
    return SourcingRequest(
        order_type="HD",
        lines=[Line(sku_ref=s, quantity=q) for s, q in lines],
        latitude=0.0,
        longitude=0.0,
        **kw,
    )


def refs(plan: Any) -> list[str]:
    return sorted(f.location_ref for f in plan.fulfillments)


NET = Network.build(
    [loc("FAR_DC", 2.0, type="DC"), loc("NEAR_A", 0.1), loc("NEAR_B", 0.12)],
    [*stock("FAR_DC", A=5, B=5), *stock("NEAR_A", A=5), *stock("NEAR_B", B=5)],
)


def test_one_location_with_everything_beats_two_nearer_halves_on_splits() -> None:
    result = source(NET, hd(("A", 2), ("B", 2)), SourcingProfile())
    first, second = result.plans[:2]
    assert refs(first) == ["FAR_DC"] and first.splits == 0 and first.unfulfilled_units == 0
    assert refs(second) == ["NEAR_A", "NEAR_B"] and second.splits == 1
    assert second.cost < first.cost  # the cheaper plan ranks second: splits come first
    assert second.rank_reasons == ["rank 2: behind plan 1 on splits (1 vs 0)"]
    assert result.unfulfilled == []


def test_the_objective_order_is_configurable() -> None:
    profile = SourcingProfile(objective=["unfulfilled", "cost", "splits", "eta"])
    assert refs(source(NET, hd(("A", 2), ("B", 2)), profile).plans[0]) == ["NEAR_A", "NEAR_B"]


def test_no_stock_anywhere() -> None:
    result = source(NET, hd(("A", 1), ("Z", 3)), SourcingProfile())
    assert [(u.sku_ref, u.quantity, u.reason_code) for u in result.unfulfilled] == [("Z", 3, "NO_STOCK")]
    assert result.plans[0].unfulfilled_units == 3


def test_not_enough_stock() -> None:
    result = source(
        NET,
        hd(
            ("A", 12),
        ),
        SourcingProfile(),
    )
    assert [(u.quantity, u.reason_code) for u in result.unfulfilled] == [(2, "NO_STOCK")]
    assert sum(line.quantity for f in result.plans[0].fulfillments for line in f.lines) == 10


def test_max_split_is_respected() -> None:
    net = Network.build(
        [loc("L1", 0.1), loc("L2", 0.2), loc("L3", 0.3)],
        [*stock("L1", A=1), *stock("L2", B=1), *stock("L3", C=1)],
    )
    result = source(net, hd(("A", 1), ("B", 1), ("C", 1)), SourcingProfile(max_split=1))
    assert all(p.splits <= 1 for p in result.plans)
    assert result.plans[0].unfulfilled_units == 1
    assert [u.reason_code for u in result.unfulfilled] == ["MAX_SPLIT"]
    assert source(net, hd(("A", 1), ("B", 1), ("C", 1)), SourcingProfile(max_split=2)).plans[0].splits == 2


def test_limit_is_respected_and_plans_are_distinct() -> None:
    net = Network.build(
        [loc(f"L{i}", 0.1 * i) for i in range(1, 9)], [p for i in range(1, 9) for p in stock(f"L{i}", A=3)]
    )
    result = source(net, hd(("A", 1), limit=3), SourcingProfile())
    assert len(result.plans) == 3 and result.total > 3  # more were generated than returned
    assert [refs(p) for p in result.plans] == [["L1"], ["L2"], ["L3"]]
    assert len({tuple(refs(p)) for p in source(net, hd(("A", 4)), SourcingProfile()).plans}) == len(
        source(net, hd(("A", 4)), SourcingProfile()).plans
    )


def test_closed_over_capacity_and_distant_locations_are_skipped_with_their_reason() -> None:
    hours = {d: [("08:00", "11:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
    net = Network.build(
        [
            loc("CLOSED", 0.05, opening_hours=hours),
            loc("FULL", 0.06, daily_capacity=10, capacity_used=10),
            loc("FAR", 5.0),
            loc("OPEN", 0.5),
        ],
        [*stock("CLOSED", A=1), *stock("FULL", B=1), *stock("FAR", C=1), *stock("OPEN", D=1)],
    )
    result = source(net, hd(("A", 1), ("B", 1), ("C", 1), ("D", 1)), SourcingProfile(max_distance_km=200))
    assert refs(result.plans[0]) == ["OPEN"]
    assert {u.sku_ref: u.reason_code for u in result.unfulfilled} == {
        "A": "EXCLUDED_BY_OPENING_HOURS",
        "B": "CAPACITY",
        "C": "EXCLUDED_BY_DISTANCE",
    }
    morning = hd(("A", 1), handling_time=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert refs(source(net, morning, SourcingProfile()).plans[0]) == ["CLOSED"]


def test_order_type_fence() -> None:
    net = Network.build(
        [loc("CC_ONLY", 0.1, capabilities=["CC"]), loc("HD", 1.0)],
        [*stock("CC_ONLY", A=1), *stock("HD", B=1)],
    )
    result = source(net, hd(("A", 1), ("B", 1)), SourcingProfile())
    assert refs(result.plans[0]) == ["HD"]
    assert [u.reason_code for u in result.unfulfilled] == ["EXCLUDED_BY_ORDER_TYPE"]


def test_click_and_collect_only_from_the_pickup_location() -> None:
    net = Network.build(
        [
            loc("PICKUP", 0.0, capabilities=["CC", "HD"], lead_time_hours=2),
            loc("OTHER", 0.1, lead_time_hours=3),
        ],
        [*stock("PICKUP", A=1), *stock("OTHER", A=5, B=5)],
    )
    cc = SourcingRequest(
        order_type="CC",
        pickup_ref="PICKUP",
        lines=[Line(sku_ref="A", quantity=1), Line(sku_ref="B", quantity=1)],
        handling_time=WEDNESDAY_NOON,
    )
    result = source(net, cc, SourcingProfile())
    assert refs(result.plans[0]) == ["PICKUP"] and result.plans[0].fulfillments[0].fulfillment_type == "CC"
    assert [(u.sku_ref, u.reason_code) for u in result.unfulfilled] == [("B", "EXCLUDED_BY_PICKUP_LOCATION")]

    transfers = source(net, cc, SourcingProfile(allow_transfers=True))
    plan = transfers.plans[0]
    assert plan.unfulfilled_units == 0
    moved = next(f for f in plan.fulfillments if f.location_ref == "OTHER")
    assert moved.transfer_to == "PICKUP"
    assert moved.eta_hours > 3 + 2  # its own lead time, the trip, and the pickup store's lead time


@pytest.mark.parametrize(
    ("given", "expected"),
    [("8H", "8H"), ("8", "8H"), ("1D", "1D"), ("24", "1D"), ("48", "2D"), ("25", "2D"), (None, "1D")],
)
def test_eta_rules_from_the_seed(given: str | None, expected: str) -> None:
    assert normalize_eta(given) == expected


def test_eta_formatting_of_hours() -> None:
    assert [format_hours(h) for h in (0.5, 7.2, 23.9, 24, 24.1, 49)] == ["1H", "8H", "1D", "1D", "2D", "3D"]
    with pytest.raises(ValueError):
        normalize_eta("8 hours")


def test_the_exact_solver_agrees_on_a_small_network() -> None:
    net = Network.build(
        [loc(f"L{i}", 0.05 * i) for i in range(1, 7)],
        [
            *stock("L1", A=1),
            *stock("L2", B=2),
            *stock("L3", A=2, B=2),
            *stock("L4", C=1),
            *stock("L5", A=2, B=2, C=1),
        ],
    )
    profile = SourcingProfile()
    p, *_ = prepare(net, hd(("A", 2), ("B", 2), ("C", 1)), profile, WEDNESDAY_NOON)
    heuristic = search(p).plans[0]
    optimum = exact.solve_everywhere(p)
    assert optimum.proven
    assert (
        (heuristic.unfulfilled, heuristic.splits) == (optimum.best.unfulfilled, optimum.best.splits) == (0, 0)
    )
    assert heuristic.cost == pytest.approx(optimum.best.cost)


def test_location_priority_breaks_a_tie() -> None:
    # Same distance, same stock, same cost: the objective ties, so priority decides.
    net = Network.build(
        [loc("LOW", 0.1, priority=1), loc("HIGH", -0.1, priority=5)],
        [*stock("LOW", A=3), *stock("HIGH", A=3)],
    )
    plans = source(net, hd(("A", 1)), SourcingProfile()).plans
    assert [refs(p) for p in plans] == [["HIGH"], ["LOW"]]
