"""The set search: batched evaluation agrees with the scalar one, and plans match the MILP's optimum."""

from __future__ import annotations

import numpy as np
import pytest

from domain.sourcing import exact
from domain.sourcing.engine import prepare
from domain.sourcing.model import SourcingProfile
from domain.sourcing.search import (
    Problem,
    coverage,
    evaluate,
    evaluate_many,
    evaluate_singles,
    first_of_each,
    packed,
    search,
)
from domain.sourcing.synthetic import WHEN, network, order


def problem(seed: int, size: int, kind: str, density: float, lines: int) -> Problem:
    rng = np.random.default_rng(seed)
    p, *_ = prepare(network(rng, size, kind, density), order(rng, lines), SourcingProfile(), WHEN)
    return p


def test_batched_evaluation_matches_the_scalar_one() -> None:
    p = problem(3, 300, "stores_only", 0.2, 12)
    h = len(p.loc)
    rng = np.random.default_rng(0)
    sets = rng.choice(h, size=(200, 4))
    sets = np.where(rng.random(sets.shape) < 0.3, h, sets)  # padded: sets of one to four, and empty
    sets = sets[[len(set(row[row < h])) == (row < h).sum() for row in sets]]  # no member twice
    unused = [r for r in sets if len(evaluate(p, tuple(int(m) for m in r if m < h)).used) < (r < h).sum()]
    assert unused  # the case this test is about: members that ship nothing
    batch = evaluate_many(p, sets)
    keys = []
    for members, remaining, unfulfilled, cost in zip(
        batch.sets, batch.remaining, batch.unfulfilled, batch.cost, strict=True
    ):
        c = evaluate(p, tuple(int(m) for m in members if m < h))
        assert c.used == tuple(int(m) for m in members if m < h)  # unused members are dropped
        assert (c.unfulfilled, c.cost) == (unfulfilled, pytest.approx(cost))
        assert np.array_equal(p.qty - c.take.sum(axis=0), remaining)
        keys.append(c.key)
    assert keys == sorted(keys)  # best first
    used = {tuple(int(m) for m in row if m < h) for row in batch.sets}
    assert len(used) == len(batch.sets)  # one row per plan


def test_rows_are_told_apart_when_packed_and_when_too_wide_to_pack() -> None:
    rows = np.array([[1, 2, 9], [1, 2, 9], [2, 1, 9], [1, 2, 3], [1, 2, 9]])
    assert first_of_each(rows, 9).tolist() == [0, 2, 3]
    wide = np.tile(rows, (1, 8))  # 24 columns: 10**24 does not fit in 63 bits
    assert first_of_each(wide, 9).tolist() == [0, 2, 3]


@pytest.mark.parametrize("skus", [1, 7, 8, 9, 20, 63, 64, 65, 130])
def test_bit_sets_hold_bit_j_of_word_j_over_64_for_sku_j(skus: int) -> None:
    masks = np.random.default_rng(skus).random((3, 5, skus)) < 0.5
    words = packed(masks)
    assert words.shape == (3, 5, -(-skus // 64)) and words.dtype == np.uint64
    bits = (words[..., np.arange(skus) // 64] >> (np.arange(skus) % 64).astype(np.uint64)) & np.uint64(1)
    assert np.array_equal(bits.astype(bool), masks)


@pytest.mark.parametrize(
    ("kind", "density", "lines"),
    [
        ("stores_only", 0.05, 12),  # sparse: four locations, units left over
        ("stores_only", 0.2, 12),  # three or four locations, full cover
        ("dc_rich", 0.05, 12),
        ("dc_rich", 0.4, 20),  # a single or a pair
    ],
)
def test_the_search_finds_the_milp_optimum(kind: str, density: float, lines: int) -> None:
    for seed in range(3):
        p = problem(seed, 400, kind, density, lines)
        mine = search(p).plans[0]
        reference = exact.solve_everywhere(p, time_limit=30)
        best = reference.best
        assert reference.proven
        assert (mine.unfulfilled, mine.splits) == (best.unfulfilled, best.splits), seed
        assert mine.cost == pytest.approx(best.cost, rel=1e-9), seed


def test_the_exact_mode_is_warm_started_by_the_heuristic() -> None:
    # With no time to search, the MILP still answers at least the plan it was started from.
    p = problem(1, 400, "stores_only", 0.05, 12)
    mine = search(p).plans[0]
    assert set(mine.used) <= {int(i) for i in p.pool}  # the start lies in the pool the MILP sees
    cold = exact.solve(p, None, time_limit=1e-4)
    warm = exact.solve(p, mine, time_limit=1e-4)
    assert warm.key <= mine.key
    assert cold.key > mine.key  # without the start, no time means a poor answer: the start mattered


def test_small_networks_are_solved_exactly_at_every_split_limit() -> None:
    # Up to eight holders the search sees every set; edge cases (one holder, two, nothing to gain
    # from a pair, lines above the threshold trick's eight units) must not lose the optimum.
    rng = np.random.default_rng(5)
    for case in range(120):
        h, m = int(rng.integers(1, 9)), int(rng.integers(1, 5))
        big = case % 4 == 0
        qty = rng.integers(1, 20 if big else 4, m)
        stock = np.where(rng.random((h, m)) < 0.5, rng.integers(1, 25 if big else 5, (h, m)), 0)
        stock[stock.sum(axis=1) == 0, 0] = 1  # every location holds something
        dist = np.sort(rng.uniform(0, 500, h))
        profile = SourcingProfile(max_split=int(rng.integers(0, 4)))
        p = Problem(
            [f"S{j}" for j in range(m)],
            qty.astype(np.int32),
            np.arange(h),
            stock.astype(np.int32),
            dist,
            2 + dist / 60,
            profile,
            np.arange(h),
        )
        mine = search(p).plans[0]
        best = exact.solve_everywhere(p).best
        assert mine.key[:3] == pytest.approx(best.key[:3]), (case, profile.max_split, qty, stock)


def test_coverage_counts_bits_like_the_direct_sum_across_words_and_large_lines() -> None:
    # 70 SKUs take two 64-bit words; lines above 8 units take the direct way.
    rng = np.random.default_rng(2)
    for top in (1, 3, 8, 12):
        h, m = 40, 70
        stock = np.where(rng.random((h, m)) < 0.4, rng.integers(1, 15, (h, m)), 0).astype(np.int32)
        qty = rng.integers(1, top + 1, m).astype(np.int32)
        p = Problem(
            [f"S{j}" for j in range(m)],
            qty,
            np.arange(h),
            stock,
            np.zeros(h),
            np.zeros(h),
            SourcingProfile(),
            np.arange(h),
        )
        wants = np.minimum(rng.integers(0, top + 1, (9, m)), qty)
        direct = np.minimum(stock[None, :, :], wants[:, None, :]).sum(axis=2)
        assert np.array_equal(coverage(p, wants), direct)
        some = np.array([3, 0, 17, 39])
        assert np.array_equal(coverage(p, wants, some), direct[:, some])


def test_plans_found_are_evaluated_as_the_scalar_evaluation_does() -> None:
    p = problem(4, 300, "stores_only", 0.05, 12)
    for plan in search(p).plans:
        c = evaluate(p, plan.members)
        assert (plan.members, plan.used, plan.unfulfilled, plan.eta, plan.priority) == (
            c.members,
            c.used,
            c.unfulfilled,
            c.eta,
            c.priority,
        )
        assert np.array_equal(plan.take, c.take) and plan.cost == pytest.approx(c.cost) and plan.key == c.key


@pytest.mark.parametrize(
    ("seed", "kind", "density"),
    [
        (12, "dc_rich", 0.05),  # four locations, reached by growing the set that one cheap location completes
        (15, "stores_only", 0.2),  # three: the best-ranked single joined by the pair the bound search finds
    ],
)
def test_the_search_finds_the_milp_optimum_where_it_once_missed_it(
    seed: int, kind: str, density: float
) -> None:
    p = problem(seed, 1000, kind, density, 20)
    mine = search(p).plans[0]
    reference = exact.solve_everywhere(p, time_limit=30)
    assert reference.proven
    assert mine.key[:3] == pytest.approx(reference.best.key[:3])


@pytest.mark.parametrize("seed", range(6))
def test_the_singles_level_is_the_batched_evaluation_of_every_holder_alone(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kind = ("dc_rich", "stores_only")[seed % 2]
    net = network(rng, 400, kind, (0.05, 0.2, 0.6)[seed % 3])
    p, *_ = prepare(net, order(rng, 8 + seed), SourcingProfile(), WHEN)
    best, cheapest = 40, 8
    singles = evaluate_singles(p, best, cheapest)
    full = evaluate_many(p, np.arange(len(p.loc))[:, None])
    # The rows kept are rows of the full level, in its order: its best, and the cheapest per unit.
    at = np.nonzero(np.isin(full.sets[:, 0], singles.batch.sets[:, 0]))[0]
    assert len(at) == len(singles.batch.sets) < len(full.sets)
    assert set(range(best)) <= set(at.tolist())
    for name in ("sets", "remaining", "unfulfilled", "cost"):
        assert np.array_equal(getattr(singles.batch, name), getattr(full, name)[at]), name
    covers = np.minimum(p.stock, p.qty).sum(axis=1)
    assert np.array_equal(singles.covers, covers)
    price = (p.profile.shipment_cost + covers * p.unit_cost) / covers
    assert np.allclose(singles.price, price)
    assert set(np.nonzero(price <= np.sort(price)[cheapest - 1])[0]) <= set(singles.batch.sets[:, 0].tolist())
