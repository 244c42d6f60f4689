"""The search over location sets: many sets evaluated at once, grown level by level, then improved.

Given a set of locations, the best assignment is greedy: every unit comes from the nearest member
that has it, because a unit's cost depends only on its location. So plans are location sets, and
the search generates sets in batches and evaluates each batch as [sets, members, SKUs] arrays:
- every single location;
- the best pairs: among the holders that cover most or cover cheapest, then exhaustively among all
  holders where the best of those leaves room (`_bounded_pairs`);
- level by level up to `maxSplit`: the carried sets grown by the holders that best fill what they
  lack; for three locations also strong singles joined by the pair that complements them (two
  locations that fill each other's gaps are often poor alone, so one-at-a-time growth never
  reaches them), the most promising singles (`Batch.promise`) getting the exhaustive pair search,
  since the best by rank often cover much but dearly. Sets grow from the best by rank and from
  those that look cheapest once grown by one more location (`completed`): with that lookahead,
  larger sets are reached by growth, and pairs joined to pairs found little more for their cost;
- local search on the best set: drop one member and refill it, or drop two and refill them with
  the best complementing pair, while the rank improves.

Stock against demand over all holders is counted in bit sets, not as a matrix product: BLAS would
spread a product that size over threads, whose wake-ups on a shared machine cost more than the
product (see `coverage`); the small batched products in `_best_pairs` stay on one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Any

import numpy as np

from domain.sourcing.model import SourcingProfile

BEAM = 32  # sets carried from one level to the next
GROW = 6  # holders tried as the next member of each carried set
SEEDS = 16  # strong sets whose remainders are searched for complementing pairs
RESIDUAL = 30  # holders per view in a complementing-pair search
ROUNDS = 3  # local search rounds per set (each one must improve the rank)
PAIR_ROWS = 300  # nearer members considered in a bounded pair search
PAIR_TOP = 4  # pairs it returns
SHORT_ROWS = 100  # nearer members considered when no pair of the short list covers everything
LOOKAHEAD = 64  # the cheapest singles per unit, whose median prices what a set still lacks
BOUNDED = 4  # bases whose complementing pairs are also searched under a bound (the most promising)
FILLERS = 128  # the cheapest singles per unit, tried as the next member in `completed`
LEAST_PASSES = 32  # picks per row up to which passes of argmin may beat a partition (`_least`)


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
    def bits(self) -> np.ndarray:
        """[t, w, h] uint64: bit j of word j // 64 is set where a holder has more than t units of SKU
        j, for t below the largest line (none past 8 units: see `coverage`)."""
        top = int(self.qty.max(initial=0))
        h, m = self.stock.shape
        stock = np.zeros((h, -(-m // 8) * 8), dtype=self.stock.dtype)  # padded once, not per threshold
        stock[:, :m] = self.stock
        above = stock[None, :, :] > np.arange(top if top <= 8 else 0)[:, None, None]
        return _words(above).transpose(0, 2, 1).copy()

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

    def promise(self, per_unit: float) -> np.ndarray:
        """How cheap each set looks once completed: its cost plus what it leaves at `per_unit`.
        Ranking by units left first is myopic: the cheapest complete plan is often built from near
        locations that cover less."""
        return self.cost + self.unfulfilled * per_unit

    def carried(self, count: int, lookahead: np.ndarray) -> Batch:
        """The `count` best ranked sets and the `count` best by `lookahead` (a figure per set, the
        lower the better), each once, still best first: sets carried on to the next level need no
        new evaluation."""
        ahead = np.argsort(lookahead, kind="stable")[:count]
        return self.pick(np.unique(np.concatenate([np.arange(min(count, len(self.sets))), ahead])))

    def pick(self, rows: np.ndarray) -> Batch:
        """The rows given, in that order."""
        return Batch(self.sets[rows], self.remaining[rows], self.unfulfilled[rows], self.cost[rows])


def completed(p: Problem, batch: Batch, fillers: np.ndarray, per_unit: float) -> np.ndarray:
    """What each set of a batch looks to cost once grown by one member: its cost, plus the best of
    `fillers` (its shipment and the units it covers) and what is still left at `per_unit`. A sharper
    lookahead than `Batch.promise` for the sets about to grow: a set that leaves exactly what one
    cheap location holds can rank far down by units left, and by the average price too."""
    gain = coverage(p, batch.remaining, fillers)  # [n, f]
    cost = p.profile.shipment_cost + gain * (p.unit_cost[fillers] - per_unit)[None, :]
    best = np.where(gain > 0, cost, np.inf).min(axis=1, initial=np.inf)
    return batch.cost + batch.unfulfilled * per_unit + np.where(batch.unfulfilled > 0, best, 0.0)


def evaluate_many(p: Problem, sets: np.ndarray) -> Batch:
    """Evaluate sets of locations ([n, s] holder indices, padding = the holder count) and rank them.
    A set given twice is evaluated twice: that is cheaper than finding it, and the plans are made
    distinct at the end anyway."""
    sets = np.sort(sets, axis=1)
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


@dataclass
class Singles:
    """The search's first level: every holder alone, as far as the search looks at it."""

    batch: Batch  # the best `best` by rank and the cheapest per unit, in rank order
    covers: np.ndarray  # [h] units each holder covers alone
    price: np.ndarray  # [h] what each holder costs per unit it covers


def evaluate_singles(p: Problem, best: int, cheapest: int) -> Singles:
    """`evaluate_many` of every holder alone, kept to the rows the search reads: the `best` by rank
    and every holder as cheap per unit as the `cheapest`-th (ties included, so that a pick among
    them by price and then rank is the same as among all). On every request, so no full sort: the
    rows that may rank among the best are those as good on the key's first column as the
    `best`-th, and only they are sorted. Alone, a holder takes what it can; the holders that take
    nothing are one plan (the empty one); no sort of members and no search for repeated sets."""
    h = len(p.loc)
    take = np.minimum(p.stock, p.qty)  # [h, m]
    covers = take.sum(axis=1)
    used = covers > 0
    price = (p.profile.shipment_cost + covers * p.unit_cost) / np.maximum(covers, 1)
    cost = p.profile.shipment_cost * used + covers * p.unit_cost
    unfulfilled = int(p.qty.sum()) - covers
    eta: Any = np.where(used, p.eta, 0.0)  # rank_key takes numbers and columns alike
    priority: Any = np.where(used, p.padded[3][:h], 0.0)
    key = [np.broadcast_to(k, (h,)) for k in rank_key(unfulfilled, 0, cost, eta, priority, p.profile)]
    rows = key[0] <= np.partition(key[0], min(best, h) - 1)[min(best, h) - 1]
    cheap = np.where(used, price, np.inf)
    rows |= cheap <= np.partition(cheap, min(cheapest, h) - 1)[min(cheapest, h) - 1]
    rows = np.nonzero(rows)[0]
    order = rows[np.lexsort(tuple(k[rows] for k in reversed(key)))]
    idle = np.nonzero(~used[order])[0]
    order = order[np.sort(np.concatenate([np.nonzero(used[order])[0], idle[:1]]))]
    plans = np.where(used[order], order, h)[:, None]
    batch = Batch(plans, p.qty[None, :] - take[order], unfulfilled[order], cost[order])
    return Singles(batch, covers, price)


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


_GATHER = np.uint64(0x0102040810204080)  # moves the low bit of each byte of a word into its top byte


def packed(masks: np.ndarray) -> np.ndarray:
    """[..., m] booleans as [..., w] uint64 words (bit j of word j // 64 is SKU j)."""
    m = masks.shape[-1]
    padded = np.zeros((*masks.shape[:-1], -(-m // 8) * 8), dtype=bool)
    padded[..., :m] = masks
    return _words(padded)


def _words(padded: np.ndarray) -> np.ndarray:
    """`packed`, for booleans whose last axis is padded to a multiple of 8. Eight booleans read as
    one word and multiplied by `_GATHER` give their eight bits in its top byte: twice as quick as
    `np.packbits` along a short axis, which goes row by row."""
    octets = (padded.view(np.uint64) * _GATHER) >> np.uint64(56)  # [..., m / 8]
    out = np.zeros((*padded.shape[:-1], -(-octets.shape[-1] // 8)), dtype=np.uint64)
    for k in range(octets.shape[-1]):
        out[..., k // 8] |= octets[..., k] << np.uint64(8 * (k % 8))
    return out


def coverage(p: Problem, wants: np.ndarray, holders: np.ndarray | None = None) -> np.ndarray:
    """[s, h]: units each holder (of all, or of `holders`) can give each of the `s` demand vectors,
    the sum over SKUs of min(stock, want).

    Order lines ask for few units, so min(a, b) = sum over t of [a > t][b > t]: per threshold, a
    popcount of the AND of two bit sets (the SKUs each side has above t), instead of an [s, h, m]
    array. Not a matrix product: BLAS would spread it over threads, whose wake-ups on a busy
    machine cost more than the product. Large quantities take the direct way.
    """
    top = int(wants.max(initial=0))
    if top <= len(p.bits):
        have = p.bits[:top] if holders is None else p.bits[:top, :, holders]  # [t, w, h]
        want = packed(wants[None, :, :] > np.arange(top)[:, None, None])  # [t, s, w]
        # Counts summed in the narrowest type that holds them (at most `top` per SKU).
        out = np.zeros(
            (len(wants), have.shape[2]), dtype=np.uint16 if top * wants.shape[1] < 2**16 else np.int64
        )
        for t in range(top):
            for w in range(have.shape[1]):
                out += np.bitwise_count(want[t, :, w, None] & have[t, w, None, :])
        return out.astype(np.int64)
    stock = p.stock if holders is None else p.stock[holders]
    return np.minimum(stock[None, :, :], wants[:, None, :]).sum(axis=2)


def _smallest(score: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """[b, count] column indices of each row's `count` smallest scores, and those scores; the picks
    are overwritten in `score` (a scratch array: a copy would cost as much as the search). A few
    passes of argmin beat a row-wise argpartition when `count` is small."""
    count = min(count, score.shape[1])
    rows = np.arange(len(score))[:, None]
    if count > 4:
        top = np.argpartition(score, count - 1, axis=1)[:, :count]
        return top, score[rows, top]
    picked: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for _ in range(count):
        best = np.argmin(score, axis=1)[:, None]
        picked.append(best)
        values.append(score[rows, best])
        score[rows, best] = np.inf
    return np.hstack(picked), np.hstack(values)


def _most(gain: np.ndarray, count: int) -> np.ndarray:
    """[b, count] column indices of each row's `count` largest gains, in no order; ties go to the
    nearer holder (for equal units, nearer is cheaper). Gain and column make one distinct integer,
    so a single partition settles the ties too."""
    n = gain.shape[1]
    return _least(np.arange(n) - gain * n, min(count, n))


def _cheapest(values: np.ndarray, count: int) -> np.ndarray:
    """[b, count] column indices of each row's `count` lowest values (not negative), in no order; ties
    go to the nearer holder. A non-negative float32's bits order as its value does, so value and
    column make one distinct integer, as in `_most`."""
    n = values.shape[1]
    count = min(count, n)
    key = values.astype(np.float32).view(np.int32).astype(np.int64) * n + np.arange(n)
    return _least(key, count)


def _least(key: np.ndarray, count: int) -> np.ndarray:
    """[b, count] column indices of each row's `count` smallest keys (distinct integers); `key` is
    scratch. With many rows, passes of argmin: one runs over all rows at once, where a partition goes
    row by row (on 2,000 columns, a pass costs about 3.5 us and a row's partition 18 us: 6 picks
    from 32 rows in 0.07 ms against 0.56 ms, 30 from one row in 0.11 ms against 0.02 ms)."""
    if count > LEAST_PASSES or len(key) * 4 < count:
        return np.argpartition(key, count - 1, axis=1)[:, :count]
    rows = np.arange(len(key))
    picked = np.empty((len(key), count), dtype=np.int64)
    done = np.iinfo(key.dtype).max
    for i in range(count):
        best = np.argmin(key, axis=1)
        picked[:, i] = best
        key[rows, best] = done
    return picked


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
    out = np.full((sum(len(s) for s in sets), max(s.shape[1] for s in sets)), pad, dtype=np.int64)
    start = 0
    for s in sets:
        out[start : start + len(s), : s.shape[1]] = s
        start += len(s)
    return out


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
    # Units left times 1e9 plus cost, split into what depends on the first member and what each unit
    # of the second changes (a valid second member ships, so its shipment is part of the first's).
    alone = left.sum(axis=2) * 1e9 + ship * ((units_first > 0) + 1) + units_first * unit_cost
    score = alone[:, :, None] + units_second * (unit_cost - 1e9)[:, None, :]
    # Distinct and nearer first (columns ascend); the second member unused makes a single, ranked elsewhere.
    np.putmask(score, (units_second <= 0) | ~np.triu(np.ones((k, k), dtype=bool), 1), np.inf)
    best, value = _smallest(score.reshape(b, k * k), top)
    rows, cols = np.nonzero(np.isfinite(value))
    first_i, second_i = np.divmod(best[rows, cols], k)
    pairs = np.stack([rows, cand[rows, first_i], cand[rows, second_i]], axis=1)
    return pairs, value[rows, cols]


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
    # Only pairs that cover as much as the known one can beat it: score those alone (few).
    enough = (gain >= (covered - cap[rows])[:, None]) & (gain > 0) & (cols[None, :] > rows[:, None])
    a, b = np.nonzero(enough)
    units = cap[rows[a]] + gain[a, b]
    score = (need - units) * 1e9 + 2 * ship + cap[rows[a]] * c[rows[a]] + gain[a, b] * c[cols[b]]
    best = np.nonzero(score < known + 1e-9)[0]
    if len(best) > PAIR_TOP:
        best = best[np.argpartition(score[best], PAIR_TOP - 1)[:PAIR_TOP]]
    a, b = a[best], b[best]
    return np.hstack([np.repeat(base[None, :], len(best), axis=0), rows[a][:, None], cols[b][:, None]])


def _complementing_pairs(
    p: Problem,
    bases: np.ndarray,
    remaining: np.ndarray,
    top: int,
    bounded: int = 0,
    gain: np.ndarray | None = None,
) -> np.ndarray:
    """Each base set joined by the `top` best pairs for what it leaves, pairs among the holders that
    cover most of that remainder or cover it most cheaply. `gain`: `coverage` of `remaining`, where
    the caller has it."""
    pad = len(p.loc)
    live = remaining.any(axis=1)
    bases, remaining = bases[live], remaining[live]
    k = min(RESIDUAL, pad)
    if not len(bases) or pad < 2:
        return np.empty((0, bases.shape[1] + 2), dtype=np.int64)
    gain = coverage(p, remaining) if gain is None else gain[live].copy()  # [b, h]
    rows, cols = np.nonzero(bases < pad)
    gain[rows, bases[rows, cols]] = 0
    per_unit = np.where(gain > 0, p.profile.shipment_cost / np.maximum(gain, 1) + p.unit_cost, np.inf)
    chosen = np.zeros(gain.shape, dtype=bool)
    row = np.arange(len(gain))[:, None]
    chosen[row, _most(gain, k)] = True
    chosen[row, _cheapest(per_unit, k)] = True
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
    chosen = _most(gain, count)  # [b, count]
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
        best = _candidates(p, neighbours.sets[:1])[0]
        if best.key >= current.key:
            break
        current = best
        path.append(best)
    return path


def _candidates(p: Problem, sets: np.ndarray) -> list[Candidate]:
    """Candidates for sets that use every member (rows of a `Batch`): `evaluate`, for all at once."""
    pad = len(p.loc)
    stock, unit_costs, etas, priorities = p.padded
    remaining = np.repeat(p.qty[None, :], len(sets), axis=0)
    take = np.empty((*sets.shape, len(p.qty)), dtype=remaining.dtype)
    for t in range(sets.shape[1]):
        take[:, t] = np.minimum(stock[sets[:, t]], remaining)
        remaining = remaining - take[:, t]
    units = take.sum(axis=2)
    cost = p.profile.shipment_cost * (units > 0).sum(axis=1) + (units * unit_costs[sets]).sum(axis=1)
    eta = np.where(units > 0, etas[sets], 0.0).max(axis=1, initial=0.0)
    priority = np.where(units > 0, priorities[sets], 0.0).sum(axis=1)
    unfulfilled = remaining.sum(axis=1)
    splits = np.maximum((sets < pad).sum(axis=1) - 1, 0)
    # Keys by column, as `evaluate_many` ranks (one rounding for all rows, not one per row).
    keys = zip(
        *(
            np.broadcast_to(k, (len(sets),)).tolist()
            for k in rank_key(unfulfilled, splits, cost, eta, priority, p.profile)
        ),
        strict=True,
    )
    out = []
    for row, (members, key) in enumerate(zip(sets.tolist(), keys, strict=True)):
        kept = tuple(m for m in members if m < pad)
        args = int(unfulfilled[row]), float(cost[row]), float(eta[row]), kept, float(priority[row]), key
        out.append(Candidate(kept, take[row, : len(kept)], *args))
    return out


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
    singles = evaluate_singles(p, 4 * BEAM, SEEDS)
    price = singles.price
    levels = [singles.batch]
    per_unit = float(np.median(np.partition(price, min(LOOKAHEAD, h) - 1)[:LOOKAHEAD]))  # the same values
    fillers = np.argsort(price)[:FILLERS]
    if p.profile.max_split >= 1:  # pairs even when a single does: they are the alternatives
        levels.append(
            evaluate_many(
                p,
                _complementing_pairs(
                    p, np.full((1, 1), h), p.qty[None, :], 4 * BEAM, 1, singles.covers[None, :]
                ),
            )
        )
    # With splits ranked right after units unfulfilled, a larger set helps only while units are left.
    splits_next = not p.profile.weights and p.profile.objective[:2] == ["unfulfilled", "splits"]
    for size in range(3, p.profile.max_split + 2):
        if splits_next and min(int(level.unfulfilled[0]) for level in levels if len(level.sets)) <= floor:
            break
        # Sets to grow: the best, and those that look best once grown by one cheap location (looked
        # at among the best and the most promising only). Sets of the largest size cannot grow
        # again: what their last member leaves stays unfulfilled.
        after = per_unit if size <= p.profile.max_split else 1e9
        near = levels[-1].carried(8 * BEAM, levels[-1].promise(per_unit))
        last = near.carried(BEAM, completed(p, near, fillers, after))
        sets = [_grown(p, last.sets, last.remaining, GROW)]
        if size == 3:  # strong singles, and the cheapest per unit they cover, joined by pairs
            base = levels[0].carried(SEEDS, np.append(price, np.inf)[levels[0].sets[:, 0]])
            # The best ranked and the most promising first, alternately: they get the exhaustive
            # pair search (the best by rank often cover much but dearly, the most promising little).
            by_promise = np.argsort(np.argsort(base.promise(per_unit), kind="stable"))
            base = base.pick(np.argsort(np.minimum(np.arange(len(base.sets)), by_promise), kind="stable"))
            sets.append(_complementing_pairs(p, base.sets, base.remaining, 2, BOUNDED))
        levels.append(evaluate_many(p, _pad(sets, h)))
    ranked = evaluate_many(p, _pad([level.sets[: 4 * BEAM] for level in levels], h))
    improved = _improve(p, _candidates(p, ranked.sets[:1])[0])
    if improved:
        extra = [np.array(c.members, dtype=np.int64)[None, :] for c in improved]
        ranked = evaluate_many(p, _pad([ranked.sets, *extra], h))
    return Found(_candidates(p, ranked.sets[:limit]), len(ranked.sets))
