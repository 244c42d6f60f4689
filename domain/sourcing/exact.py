"""Exact sourcing: a MILP solved by HiGHS, lexicographically in three stages.

Stage 1 minimises unfulfilled units; stage 2 the number of locations, holding stage 1's optimum;
stage 3 the cost, holding both. With the set of locations fixed the assignment is a transportation
problem, whose LP optimum is integral, so only the location choices are binary. Each stage is
time-limited; a stage that hits its limit marks the answer unproven. A known plan (the heuristic's)
warm-starts every stage, so a stage cut short still returns at least as good an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from domain.sourcing.search import Candidate, Problem, evaluate

INF = float("inf")


def undominated(p: Problem) -> Problem:
    """Drop every holder that more nearer holders dominate than a plan has locations (a dominator has
    at least as much of each SKU, up to the order's quantities). A plan that uses a dominated
    location then leaves one of its dominators out, and swapping the two never adds a location or
    cost, so some optimum survives: the reduction is exact. One dominator is not enough: the plan
    may need both (the dominated one adds units of a SKU the dominator has too few of)."""
    capped = np.minimum(p.stock, p.qty)
    enough = p.profile.max_split + 1
    keep: list[int] = []
    for a in range(len(capped)):  # holders are sorted by distance: dominators come first
        if not keep or np.count_nonzero(np.all(capped[keep] >= capped[a], axis=1)) < enough:
            keep.append(a)
    return replace(p, pool=np.array(keep, dtype=np.int64)).restricted()


@dataclass
class Exact:
    best: Candidate  # members index the problem that was solved
    problem: Problem
    proven: bool  # False when a stage hit the time limit


def solve_everywhere(p: Problem, time_limit: float = 20.0, start: Candidate | None = None) -> Exact:
    """The optimum over every eligible holder (after the exact dominance reduction); `start`, a plan
    of `p`, warm-starts it where the reduction kept its locations."""
    reduced = undominated(p)
    best, proven = _solve(reduced, time_limit, _within(reduced, p, start))
    return Exact(best, reduced, proven)


def _within(restricted: Problem, p: Problem, start: Candidate | None) -> Candidate | None:
    """`start` (a plan of `p`) as a plan of `restricted`, or None where it uses a location left out."""
    where = {int(holder): i for i, holder in enumerate(restricted.loc)}
    if start is None or not all(int(p.loc[m]) in where for m in start.used):
        return None
    return evaluate(restricted, tuple(where[int(p.loc[m])] for m in start.used))


def solve(p: Problem, start: Candidate | None = None, time_limit: float = 5.0) -> Candidate:
    """The optimum over the problem's pool (the exact mode of a sourcing request), as a candidate of
    `p`; `start` (a plan of `p`, the heuristic's best) warm-starts it where the pool holds it."""
    restricted = p.restricted()
    best, _ = _solve(restricted, time_limit, _within(restricted, p, start))
    return evaluate(p, tuple(int(p.pool[m]) for m in best.members))


def _solve(p: Problem, time_limit: float, start: Candidate | None = None) -> tuple[Candidate, bool]:
    import highspy

    k, m = p.stock.shape
    pairs = np.argwhere(p.stock > 0)  # (location, sku) with stock: the x variables
    nx = len(pairs)
    if nx == 0:
        return evaluate(p, ()), True
    # Columns: x (nx, continuous), y (k, binary), u (m, continuous)
    n = nx + k + m
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)
    lower = np.zeros(n)
    upper = np.concatenate([p.stock[pairs[:, 0], pairs[:, 1]].astype(float), np.ones(k), p.qty.astype(float)])
    h.addVars(n, lower, upper)
    h.changeColsIntegrality(
        k, np.arange(nx, nx + k, dtype=np.int32), np.full(k, highspy.HighsVarType.kInteger)
    )

    # Demand: sum_l x[l, j] + u[j] = qty[j]
    for j in range(m):
        cols = np.concatenate([np.nonzero(pairs[:, 1] == j)[0], [nx + k + j]]).astype(np.int32)
        h.addRow(float(p.qty[j]), float(p.qty[j]), len(cols), cols, np.ones(len(cols)))
    # Linking: x[l, j] <= stock[l, j] * y[l]
    for v, (loc, sku) in enumerate(pairs):
        h.addRow(
            -INF, 0.0, 2, np.array([v, nx + loc], dtype=np.int32), np.array([1.0, -float(p.stock[loc, sku])])
        )
    ys = np.arange(nx, nx + k, dtype=np.int32)
    us = np.arange(nx + k, n, dtype=np.int32)
    h.addRow(-INF, float(p.profile.max_split + 1), k, ys, np.ones(k))

    proven = True
    warm = None
    if start is not None:  # the known plan as column values: what each member takes, who is used
        warm = np.zeros(n)
        row = {int(m): i for i, m in enumerate(start.members)}
        for v, (loc, sku) in enumerate(pairs):
            if int(loc) in row:
                warm[v] = start.take[row[int(loc)], sku]
        warm[nx + np.array(start.used, dtype=np.int64)] = 1.0
        warm[nx + k :] = p.qty - start.take.sum(axis=0)

    best = start if start is not None else evaluate(p, ())

    def stage(cols: np.ndarray, costs: np.ndarray) -> float | None:
        """Solve for one criterion; None when the time ran out before any solution."""
        nonlocal proven, best
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.zeros(n))
        h.changeColsCost(len(cols), cols.astype(np.int32), costs.astype(float))
        if warm is not None:
            h.setSolution(n, np.arange(n, dtype=np.int32), warm)
        h.run()
        proven = proven and h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        value = float(h.getInfo().objective_function_value)
        if not np.isfinite(value):
            proven = False
            return None
        chosen = np.nonzero(np.asarray(h.getSolution().col_value)[nx : nx + k] > 0.5)[0]
        # Re-evaluate the chosen set with the greedy assignment (optimal for a fixed set).
        found = evaluate(p, tuple(int(c) for c in chosen))
        best = min(best, found, key=lambda c: c.key)
        return value

    unfulfilled = stage(us, np.ones(m))
    if unfulfilled is None:
        return best, False
    h.addRow(-INF, round(unfulfilled) + 1e-6, m, us, np.ones(m))
    locations = stage(ys, np.ones(k))
    if locations is None:
        return best, False
    h.addRow(-INF, round(locations) + 1e-6, k, ys, np.ones(k))
    unit = p.unit_cost[pairs[:, 0]]
    stage(np.concatenate([np.arange(nx), ys]), np.concatenate([unit, np.full(k, p.profile.shipment_cost)]))
    return best, proven
