"""The search over location sets: many sets evaluated at once, grown level by level, then improved.

Given a set of locations, the best assignment is greedy: every unit comes from the nearest member
that has it, because a unit's cost depends only on its location. So plans are location sets, and
the search generates sets in batches and evaluates each batch as [sets, members, SKUs] arrays:
- every single location;
- the best pairs: among the holders that cover most or cover cheapest, then exhaustively among all
  holders where the best of those leaves room (`_bounded_pairs`);
- level by level up to `maxSplit`: the carried sets grown by the holders that best fill what they
  lack, and strong smaller sets joined by the pair that complements them (two locations that fill
  each other's gaps are often poor alone, so one-at-a-time growth never reaches them). Sets are
  carried both by rank and by a lookahead (`Batch.promising`);
- local search on the best set: drop one member and refill it, or drop two and refill them with
  the best complementing pair, while the rank improves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations

import numpy as np

from domain.sourcing.model import SourcingProfile

BEAM = 32  # sets carried from one level to the next
GROW = 8  # holders tried as the next member of each carried set
SEEDS = 16  # strong sets whose remainders are searched for complementing pairs
RESIDUAL = 30  # holders per view in a complementing-pair search
ROUNDS = 3  # local search rounds per set (each one must improve the rank)
PAIR_ROWS = 300  # nearer members considered in a bounded pair search
PAIR_TOP = 4  # pairs it returns
SHORT_ROWS = 100  # nearer members considered when no pair of the short list covers everything
LOOKAHEAD = 64  # the cheapest singles per unit, whose median prices what a set still lacks
BOUNDED = 4  # bases whose complementing pairs are also searched under a bound


@dataclass
class Problem:
    """Every eligible holder of a requested SKU (nearest first), and the pruned pool among them."""

    skus: list[str]
    qty: np.ndarray  # [m]
    loc: np.ndarray  # [h] network indices, by distance
    stock: np.ndarray  # [h, m]
    dist: np.ndarray  # [h] km to the destination
    eta: np.ndarray  # [h] hours
    profile: SourcingProfile
    pool: np.ndarray  # indices into the holders: the pruned candidates the exact mode solves over
    priority: np.ndarray | None = None  # [h] the locations' priorities: the last tie-break

    @property
    def unit_cost(self) -> np.ndarray:
        return self.dist * self.profile.cost_per_unit_km

    @cached_property
    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Stock, unit cost, ETA and priority with one more row: the padding location, which has nothing."""
        priority = np.zeros(len(self.loc)) if self.priority is None else self.priority
        return (
            np.vstack([self.stock, np.zeros((1, len(self.qty)), dtype=self.stock.dtype)]),
            np.append(self.unit_cost, 0.0),
            np.append(self.eta, 0.0),
            np.append(priority, 0.0),
        )

    @cached_property
    def thresholds(self) -> list[np.ndarray]:
        """[m, h] float masks stock > t, for t below the largest line (up to 8): see `coverage`."""
        top = int(self.qty.max(initial=0))
        return [(self.stock > t).astype(np.float32).T for t in range(top)] if top <= 8 else []

    def restricted(self) -> Problem:
        """The same problem over the pool only (what the exact solver works on)."""
        keep = self.pool
        return Problem(
            self.skus,
            self.qty,
            self.loc[keep],
            self.stock[keep],
            self.dist[keep],
            self.eta[keep],
            self.profile,
            np.arange(len(keep)),
            priority=None if self.priority is None else self.priority[keep],
        )


@dataclass
class Candidate:
    members: tuple[int, ...]  # indices into the problem's holders
    take: np.ndarray  # [len(members), m] units per member and SKU
    unfulfilled: int
    cost: float
    eta: float
    used: tuple[int, ...]  # the members that ship something
    priority: float = 0.0  # the summed priority of the locations it uses
    key: tuple[float, ...] = ()  # its rank key under the problem's profile, computed once

    @property
    def splits(self) -> int:
        return max(len(self.used) - 1, 0)


def evaluate(p: Problem, members: tuple[int, ...]) -> Candidate:
    """The best assignment for a set of locations: each unit from the nearest member that has it."""
    ordered = tuple(sorted(set(members)))  # holders are sorted by distance
    remaining = p.qty.copy()
    takes = []
    for i in ordered:
        take = np.minimum(p.stock[i], remaining)
        remaining = remaining - take
        takes.append(take)
    take_arr = np.array(takes).reshape(len(ordered), len(p.qty))
    units = take_arr.sum(axis=1)
    used = units > 0
    idx = np.array(ordered, dtype=np.int64)
    cost = float(p.profile.shipment_cost * used.sum() + (units * p.unit_cost[idx]).sum()) if ordered else 0.0
    eta = float(p.eta[idx][used].max()) if used.any() else 0.0
    members_used = tuple(m for m, u in zip(ordered, used.tolist(), strict=True) if u)
    c = Candidate(ordered, take_arr, int(remaining.sum()), cost, eta, members_used)
    if p.priority is not None and used.any():
        c.priority = float(p.priority[idx][used].sum())
    c.key = rank_key(c.unfulfilled, c.splits, c.cost, c.eta, c.priority, p.profile)
    return c


def rank_key(
    unfulfilled: int, splits: int, cost: float, eta: float, priority: float, profile: SourcingProfile
) -> tuple[float, ...]:
    """Lexicographic by the profile's objective (or its weighted sum); location priority breaks what
    the objective leaves tied: the higher, the sooner. Works on numbers and on numpy columns alike."""
    values = {"unfulfilled": unfulfilled, "splits": splits, "cost": np.round(cost, 6), "eta": eta}
    if profile.weights:
        rest = sum(profile.weights.get(k, 0.0) * values[k] for k in values if k != "unfulfilled")  # type: ignore[call-overload]
        return (values["unfulfilled"], rest, -priority)
    return (*(values[k] for k in profile.objective), -priority)


@dataclass
class Batch:
    """Many location sets evaluated at once: the vector form of `evaluate`, best first."""

    sets: np.ndarray  # [n, s] members, ascending, padded with the holder count (a location with nothing)
    remaining: np.ndarray  # [n, m] what each set leaves unfulfilled, per SKU
    unfulfilled: np.ndarray  # [n]
    cost: np.ndarray  # [n]

    def promising(self, count: int, per_unit: float) -> np.ndarray:
        """The `count` sets that look cheapest once completed: their cost plus what they leave at
        `per_unit`. Ranking by units left first is myopic: the cheapest complete plan is often
        built from near locations that cover less."""
        return self.sets[np.argsort(self.cost + self.unfulfilled * per_unit, kind="stable")[:count]]


def evaluate_many(p: Problem, sets: np.ndarray) -> Batch:
    """Evaluate sets of locations ([n, s] holder indices, padding = the holder count) and rank them."""
    sets = np.sort(sets, axis=1)
    sets = sets[first_of_each(sets, len(p.loc))]
    stock, unit_costs, etas, priorities = p.padded
    remaining = np.repeat(p.qty[None, :], len(sets), axis=0)
    units = np.empty(sets.shape)
    for t in range(sets.shape[1]):  # members ascending: nearest first, as the greedy assignment wants
        take = np.minimum(stock[sets[:, t]], remaining)
        remaining = remaining - take
        units[:, t] = take.sum(axis=1)
    used = units > 0
    cost = p.profile.shipment_cost * used.sum(axis=1) + (units * unit_costs[sets]).sum(axis=1)
    eta = np.where(used, etas[sets], 0.0).max(axis=1)
    priority = np.where(used, priorities[sets], 0.0).sum(axis=1)
    unfulfilled = remaining.sum(axis=1)
    splits = np.maximum(used.sum(axis=1) - 1, 0)
    key = rank_key(unfulfilled, splits, cost, eta, priority, p.profile)
    order = np.lexsort(tuple(np.broadcast_to(k, (len(sets),)) for k in reversed(key)))
    # A member that ships nothing changes nothing: sets equal in the members they use are one plan.
    plans = np.sort(np.where(used, sets, len(p.loc)), axis=1)[order]
    first = first_of_each(plans, len(p.loc))
    order = order[first]
    return Batch(plans[first], remaining[order], unfulfilled[order], cost[order])


def first_of_each(rows: np.ndarray, pad: int) -> np.ndarray:
    """Indices of the first occurrence of each distinct row, in order. Rows of holder indices are
    packed into one integer each where they fit, which is much faster than a row-wise unique."""
    width = rows.shape[1]
    if width == 1 or (pad + 1) ** width < 2**62:
        packed = rows @ ((pad + 1) ** np.arange(width, dtype=np.int64))
        _, first = np.unique(packed, return_index=True)
    else:
        _, first = np.unique(rows, axis=0, return_index=True)
    return np.sort(first)


def coverage(p: Problem, wants: np.ndarray, holders: np.ndarray | None = None) -> np.ndarray:
    """[s, h]: units each holder (of all, or of `holders`) can give each of the `s` demand vectors,
    the sum over SKUs of min(stock, want).

    Order lines ask for few units, so min(a, b) = sum over t of [a > t][b > t] turns this into a
    few matrix products instead of an [s, h, m] array; large quantities take the direct way.
    """
    top = int(wants.max(initial=0))
    if top <= len(p.thresholds):
        out = np.zeros((len(wants), len(p.loc) if holders is None else len(holders)), dtype=np.float32)
        for t in range(top):
            above = p.thresholds[t] if holders is None else p.thresholds[t][:, holders]
            out += (wants > t).astype(np.float32) @ above
        return out.astype(np.int64)
    stock = p.stock if holders is None else p.stock[holders]
    return np.minimum(stock[None, :, :], wants[:, None, :]).sum(axis=2)


def _smallest(score: np.ndarray, count: int) -> np.ndarray:
    """[b, count] column indices of each row's `count` smallest scores. A few passes of argmin beat
    a row-wise argpartition when `count` is small."""
    count = min(count, score.shape[1])
    if count > 4:
        return np.argpartition(score, count - 1, axis=1)[:, :count]
    score = score.copy()
    rows = np.arange(len(score))
    picked = []
    for _ in range(count):
        best = np.argmin(score, axis=1)
        picked.append(best)
        score[rows, best] = np.inf
    return np.stack(picked, axis=1)


def _lowest(values: np.ndarray, count: int) -> np.ndarray:
    """[b, count] column indices of each row's `count` lowest values, ascending by column (ties go to
    the nearer holder): a partition for the threshold, then a mask, cheaper than an argpartition."""
    count = min(count, values.shape[1])
    values = values.astype(np.float32)
    threshold = np.partition(values, count - 1, axis=1)[:, count - 1 : count]
    below = values < threshold
    # Ties at the threshold fill what is left, nearest first.
    at = (values == threshold) & (
        np.cumsum(values == threshold, axis=1) <= count - below.sum(axis=1, keepdims=True)
    )
    return np.nonzero(below | at)[1].reshape(len(values), count)


def _compact(mask: np.ndarray, pad: int) -> np.ndarray:
    """[b, w]: the columns of each row's True entries, ascending, padded with `pad` to the widest row."""
    rows, cols = np.nonzero(mask)
    counts = mask.sum(axis=1)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full((len(mask), max(int(counts.max(initial=0)), 2)), pad)
    out[rows, np.arange(len(rows)) - start[rows]] = cols
    return out


def _pad(sets: list[np.ndarray], pad: int) -> np.ndarray:
    """Sets of several sizes as one array, the shorter padded with a location that has nothing."""
    width = max(s.shape[1] for s in sets)
    return np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1])), constant_values=pad) for s in sets])


def _best_pairs(p: Problem, cand: np.ndarray, rest: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `cand` ([b, k] holders, ascending) and what its base leaves (`rest`, [b, m]):
    the `top` best pairs among its holders, as [n, 3] (row, holder, holder), and their scores (units
    left times 1e9 plus cost), all scored at once as [b, k, k, m] arrays."""
    b, k = cand.shape
    ship = p.profile.shipment_cost
    stock, unit_cost = p.padded[0][cand], p.padded[1][cand]  # [b, k, m], [b, k]
    first = np.minimum(stock, rest[:, None, :])  # what the nearer one takes
    left = rest[:, None, :] - first
    units_first = first.sum(axis=2)
    most = int(left.max(initial=0))
    if most <= 8:  # as in `coverage`: min(a, b) as a sum of threshold products, batched
        units_second = np.zeros((b, k, k), dtype=np.float32)
        for t in range(most):
            units_second += (left > t).astype(np.float32) @ (stock > t).astype(np.float32).transpose(0, 2, 1)
    else:
        units_second = np.minimum(stock[:, None, :, :], left[:, :, None, :]).sum(axis=3)  # [b, k, k]
    unfulfilled = left.sum(axis=2)[:, :, None] - units_second
    cost = (
        ship * ((units_first > 0)[:, :, None].astype(float) + (units_second > 0))
        + (units_first * unit_cost)[:, :, None]
        + units_second * unit_cost[:, None, :]
    )
    # Distinct and nearer first; the second member unused makes a single, ranked elsewhere.
    valid = (cand[:, :, None] < cand[:, None, :]) & (units_second > 0)
    score = np.where(valid, unfulfilled * 1e9 + cost, np.inf).reshape(b, k * k)
    best = _smallest(score, top)
    rows, cols = np.nonzero(np.isfinite(np.take_along_axis(score, best, axis=1)))
    first_i, second_i = np.divmod(best[rows, cols], k)
    pairs = np.stack([rows, cand[rows, first_i], cand[rows, second_i]], axis=1)
    return pairs, score[rows, best[rows, cols]]


def _bounded_pairs(
    p: Problem, base: np.ndarray, rest: np.ndarray, cap: np.ndarray, known: float
) -> np.ndarray:
    """The best pairs for `rest` among all holders, searched exhaustively where a pair could beat the
    `known` score (units left times 1e9 plus cost): the bound rules out most holders. With full
    cover known, the nearer member must be near enough that even all units from it cost no more, and
    the farther one near enough given what the nearer one takes; short of it, a pair must be able to
    cover as much. Exhaustive up to `PAIR_ROWS` nearer members (the `SHORT_ROWS` that cover most,
    when short), a heuristic past that. `cap` is what each holder covers of `rest` alone."""
    ship, c = p.profile.shipment_cost, p.unit_cost
    need = int(rest.sum())
    short, cost = divmod(known, 1e9)
    covered = need - int(short)
    top_cap = int(cap.max(initial=0))
    live = (cap > 0) & (cap < need)  # a holder that covers everything makes a single
    none = np.empty((0, len(base) + 2), dtype=np.int64)
    if short == 0:
        rows = np.nonzero(live & (cap + top_cap >= need) & (2 * ship + need * c <= cost))[0][:PAIR_ROWS]
        if not len(rows):
            return none
        spare = (cost - 2 * ship - cap[rows] * c[rows]) / np.maximum(need - cap[rows], 1)
        cols = np.nonzero(live & (c <= spare.max()) & (cap >= need - cap[rows].max()))[0]
    else:
        # No cost bound here: the holders that cover most, as many as the full-cover case allows.
        rows = np.nonzero(live & (cap + top_cap >= covered))[0]
        rows = rows[np.argsort(-cap[rows], kind="stable")[:SHORT_ROWS]]
        if not len(rows):
            return none
        cols = np.nonzero(live & (cap + cap[rows].max() >= covered))[0]
        cols = cols[np.argsort(-cap[cols], kind="stable")[: PAIR_ROWS * SHORT_ROWS // len(rows)]]
    if not len(cols):
        return none
    left = rest - np.minimum(p.stock[rows], rest)  # [a, m] what each nearer member leaves
    gain = coverage(p, left, cols)  # [a, b] what each farther member adds to it
    units = cap[rows][:, None] + gain
    score = (need - units) * 1e9 + 2 * ship + (cap[rows] * c[rows])[:, None] + gain * c[cols][None, :]
    score[(cols[None, :] <= rows[:, None]) | (gain <= 0)] = np.inf
    flat = score.ravel()
    best = np.nonzero(flat < known + 1e-9)[0]  # the bound leaves few
    if len(best) > PAIR_TOP:
        best = best[np.argpartition(flat[best], PAIR_TOP - 1)[:PAIR_TOP]]
    a, b = np.divmod(best, len(cols))
    return np.hstack([np.repeat(base[None, :], len(best), axis=0), rows[a][:, None], cols[b][:, None]])


def _complementing_pairs(
    p: Problem, bases: np.ndarray, remaining: np.ndarray, top: int, bounded: int = 0
) -> np.ndarray:
    """Each base set joined by the `top` best pairs for what it leaves, pairs among the holders that
    cover most of that remainder or cover it most cheaply."""
    pad = len(p.loc)
    live = remaining.any(axis=1)
    bases, remaining = bases[live], remaining[live]
    k = min(RESIDUAL, pad)
    if not len(bases) or pad < 2:
        return np.empty((0, bases.shape[1] + 2), dtype=np.int64)
    gain = coverage(p, remaining)  # [b, h]
    rows, cols = np.nonzero(bases < pad)
    gain[rows, bases[rows, cols]] = 0
    per_unit = np.where(gain > 0, p.profile.shipment_cost / np.maximum(gain, 1) + p.unit_cost, np.inf)
    chosen = np.zeros(gain.shape, dtype=bool)
    row = np.arange(len(gain))[:, None]
    chosen[row, _lowest(-gain, k)] = True
    chosen[row, _lowest(per_unit, k)] = True
    # The two views overlap; a holder that covers none of the remainder joins no pair.
    pairs, score = _best_pairs(p, _compact(chosen & (gain > 0), pad), remaining, top)
    keep = (pairs[:, 1] < pad) & (pairs[:, 2] < pad)
    pairs, score = pairs[keep], score[keep]
    out = [np.hstack([bases[pairs[:, 0]], pairs[:, 1:]])]
    for i in range(min(bounded, len(bases))):  # then exhaustively, under the bound that gives
        known = score[pairs[:, 0] == i].min(initial=np.inf)
        if np.isfinite(known):
            out.append(_bounded_pairs(p, bases[i], remaining[i], gain[i], float(known)))
    return np.concatenate(out)


def _grown(p: Problem, bases: np.ndarray, remaining: np.ndarray, count: int) -> np.ndarray:
    """Each base set plus each of the `count` holders (of all) that best fill what it leaves: those
    that cover most of it, the nearer first on ties (for equal units, nearer is cheaper)."""
    pad = len(p.loc)
    gain = coverage(p, remaining)  # [b, h]
    rows, cols = np.nonzero(bases < pad)
    gain[rows, bases[rows, cols]] = 0
    chosen = _lowest(-gain, count)  # [b, count]
    b, c = np.nonzero(np.take_along_axis(gain, chosen, axis=1) > 0)
    return np.hstack([bases[b], chosen[b, c][:, None]])


def _neighbours(p: Problem, members: np.ndarray) -> np.ndarray:
    """Sets one or two members away: each member dropped (and refilled), each pair dropped and refilled
    with the pair that best complements the rest."""
    pad = len(p.loc)
    k = len(members)
    drop_one = np.array([np.delete(members, i) for i in range(k)]).reshape(k, k - 1)
    out = [drop_one]
    if k > 1:
        base = evaluate_many(p, drop_one)
        out.append(_grown(p, base.sets, base.remaining, GROW))
    if k > 2:
        drop_two = np.array([[m for m in members if m not in pair] for pair in combinations(members, 2)])
        base = evaluate_many(p, drop_two)
        out.append(_complementing_pairs(p, base.sets, base.remaining, 3))
    return _pad(out, pad)


def _improve(p: Problem, start: Candidate) -> list[Candidate]:
    """Local search from a set: move to the best neighbour while it ranks better. Returns the sets
    passed through (they join the list rather than replace the start: an alternative stays one)."""
    current, path = start, []
    for _ in range(ROUNDS):
        if len(current.used) < 2:
            break  # every single is evaluated already
        neighbours = evaluate_many(p, _neighbours(p, np.array(current.used, dtype=np.int64)))
        best = _candidate(p, neighbours.sets[0])
        if best.key >= current.key:
            break
        current = best
        path.append(best)
    return path


def _candidate(p: Problem, members: np.ndarray) -> Candidate:
    return evaluate(p, tuple(int(m) for m in members if m < len(p.loc)))


@dataclass
class Found:
    plans: list[Candidate]  # the best, first; distinct by the locations they use
    total: int  # distinct plans found


def search(p: Problem, limit: int = 10) -> Found:
    """The best `limit` plans found, and how many were found."""
    h = len(p.loc)
    if h == 0:
        return Found([evaluate(p, ())], 1)
    # No plan can leave fewer units unfulfilled than the eligible stock does.
    floor = int(np.maximum(p.qty - p.stock.sum(axis=0), 0).sum())
    capped = np.minimum(p.stock, p.qty)
    price = (p.profile.shipment_cost + capped.sum(axis=1) * p.unit_cost) / np.maximum(capped.sum(axis=1), 1)
    levels = [evaluate_many(p, np.arange(h)[:, None])]
    per_unit = float(np.median(np.sort(price)[:LOOKAHEAD]))
    if p.profile.max_split >= 1:  # pairs even when a single does: they are the alternatives
        levels.append(
            evaluate_many(p, _complementing_pairs(p, np.full((1, 1), h), p.qty[None, :], 4 * BEAM, 1))
        )
    # With splits ranked right after units unfulfilled, a larger set helps only while units are left.
    splits_next = not p.profile.weights and p.profile.objective[:2] == ["unfulfilled", "splits"]
    for size in range(3, p.profile.max_split + 2):
        if splits_next and min(int(level.unfulfilled[0]) for level in levels if len(level.sets)) <= floor:
            break
        if size == 3:  # strong singles: the best ranked, and the cheapest per unit they cover
            bases = np.unique(np.concatenate([levels[0].sets[:SEEDS, 0], np.argsort(price)[:SEEDS]]))[:, None]
        else:
            bases = np.concatenate([levels[-2].sets[:SEEDS], levels[-2].promising(SEEDS, per_unit)])
        base = evaluate_many(p, bases)
        carried = [levels[-1].sets[:BEAM], levels[-1].promising(BEAM, per_unit)]
        last = evaluate_many(p, np.concatenate(carried))
        grown = _grown(p, last.sets, last.remaining, GROW)
        levels.append(
            evaluate_many(p, _pad([grown, _complementing_pairs(p, base.sets, base.remaining, 2, BOUNDED)], h))
        )
    ranked = evaluate_many(p, _pad([level.sets[: 4 * BEAM] for level in levels], h))
    improved = _improve(p, _candidate(p, ranked.sets[0]))
    if improved:
        extra = [np.array(c.members, dtype=np.int64)[None, :] for c in improved]
        ranked = evaluate_many(p, _pad([ranked.sets, *extra], h))
    return Found([_candidate(p, members) for members in ranked.sets[:limit]], len(ranked.sets))
