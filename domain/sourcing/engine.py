"""The sourcing engine: fences, candidate pruning, exact one- and two-location checks, beam search.

Plans are ranked lexicographically by the profile's objective (by default: fewest unfulfilled
units, then fewest splits, then lowest cost, then earliest ETA). Given a set of locations, the best
assignment is greedy: every unit comes from the cheapest (nearest) location of the set that has it,
because a unit's cost depends only on its location. So the search is over location sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from domain.sourcing.model import (
    Line,
    Plan,
    PlanFulfilment,
    PlanLine,
    SourcingProfile,
    SourcingRequest,
    SourcingResult,
    Unfulfilled,
)
from domain.sourcing.network import CAPABILITY_BITS, Network, now_utc

CANDIDATES = 60  # the pool for exhaustive pair search, by coverage and cost per unit
PER_SKU = 3  # plus the nearest holders of each SKU, so rare SKUs are represented
BEAM = 8
RESIDUAL = 30  # holders per view in a residual pair search
SEEDS = 8  # strong sets whose remainders are searched for complementing pairs
FENCE_REASONS = {
    "order_type": ("EXCLUDED_BY_ORDER_TYPE", "only at locations that do not offer this order type"),
    "distance": ("EXCLUDED_BY_DISTANCE", "only at locations beyond the maximum distance"),
    "opening_hours": ("EXCLUDED_BY_OPENING_HOURS", "only at locations closed at the handling time"),
    "capacity": ("CAPACITY", "only at locations whose daily capacity is used up"),
    "pickup": ("EXCLUDED_BY_PICKUP_LOCATION", "not at the pickup location, and transfers are off"),
}


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
    pool: np.ndarray  # indices into the holders: the candidates for exhaustive pair search
    wide: np.ndarray | None = None  # a wider pool where completions and swaps are looked for
    priority: np.ndarray | None = None  # [h] the locations' priorities: the last tie-break

    @property
    def unit_cost(self) -> np.ndarray:
        return self.dist * self.profile.cost_per_unit_km

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

    @property
    def reach(self) -> np.ndarray:
        return self.wide if self.wide is not None else np.arange(len(self.loc))


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
    ordered = tuple(sorted(set(members)))  # candidates are sorted by distance
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
    c.key = rank_key(c, p.profile)
    return c


def rank_key(c: Candidate, profile: SourcingProfile) -> tuple[float, ...]:
    values = {"unfulfilled": c.unfulfilled, "splits": c.splits, "cost": round(c.cost, 6), "eta": c.eta}
    if profile.weights:
        rest = sum(profile.weights.get(k, 0.0) * values[k] for k in values if k != "unfulfilled")  # type: ignore[call-overload]
        return (values["unfulfilled"], rest, -c.priority)
    # Location priority breaks what the objective leaves tied: the higher, the sooner.
    return (*(values[k] for k in profile.objective), -c.priority)


def _best_pairs(
    stock: np.ndarray, unit_cost: np.ndarray, qty: np.ndarray, ship: float, top: int
) -> list[tuple[int, int]]:
    """The `top` best pairs of rows (nearer first), all evaluated at once as [k, k, m] arrays."""
    k = len(stock)
    if k < 2:
        return []
    first = np.minimum(stock, qty)  # [k, m] what the nearer one takes
    rest = qty - first
    second = np.minimum(stock[None, :, :], rest[:, None, :])  # [k, k, m]
    unfulfilled = (rest[:, None, :] - second).sum(axis=2)
    units_first, units_second = first.sum(axis=1), second.sum(axis=2)
    cost = (
        ship * ((units_first > 0)[:, None].astype(float) + (units_second > 0))
        + units_first[:, None] * unit_cost[:, None]
        + units_second * unit_cost[None, :]
    )
    # Second member unused: that is a single, ranked elsewhere.
    valid = np.triu(np.ones((k, k), dtype=bool), 1) & (units_second > 0)
    if not valid.any():
        return []
    score = np.where(valid, unfulfilled * 1e9 + cost, np.inf).ravel()
    best = np.argpartition(score, min(top, score.size - 1))[:top]
    best = best[np.isfinite(score[best])]
    return [(int(a), int(b)) for a, b in (divmod(int(x), k) for x in best[np.argsort(score[best])])]


def _pairs(p: Problem, top: int) -> list[tuple[int, ...]]:
    """The best pairs of the pool."""
    pairs = _best_pairs(p.stock[p.pool], p.unit_cost[p.pool], p.qty, p.profile.shipment_cost, top)
    return [(int(p.pool[a]), int(p.pool[b])) for a, b in pairs]


def _residual_pairs(p: Problem, base: Candidate, top: int) -> list[tuple[int, ...]]:
    """`base` plus the best pairs for what it leaves: two locations that complement it exactly are
    often poor on their own, so one-at-a-time growth never reaches them."""
    rest = p.qty - base.take.sum(axis=0)
    if not rest.any():
        return []
    cover = coverage(p.stock, rest[None, :])[0]
    cover[list(base.members)] = 0
    per_unit = p.profile.shipment_cost / np.maximum(cover, 1) + p.unit_cost
    k = min(RESIDUAL, len(cover) - 1)
    ranked = np.unique(
        np.concatenate([np.argpartition(-cover, k)[:RESIDUAL], np.argpartition(per_unit, k)[:RESIDUAL]])
    )
    ranked = ranked[cover[ranked] > 0]  # sorted indices: nearer first, as pairs expect
    pairs = _best_pairs(p.stock[ranked], p.unit_cost[ranked], rest, p.profile.shipment_cost, top)
    return [tuple(sorted((*base.members, int(ranked[a]), int(ranked[b])))) for a, b in pairs]


def coverage(stock: np.ndarray, wants: np.ndarray) -> np.ndarray:
    """[s, h]: units holder h can give each of the `s` demand vectors, sum over SKUs of min(stock, want).

    Order lines ask for few units, so min(a, b) = sum over t of [a >= t][b >= t] turns this into a
    few matrix products instead of an [s, h, m] array; large quantities take the direct way.
    """
    top = int(wants.max(initial=0))
    if top <= 8:
        out = np.zeros((len(wants), len(stock)))
        for t in range(1, top + 1):
            out += (wants >= t).astype(np.float32) @ (stock >= t).astype(np.float32).T
        return out.astype(np.int64)
    return np.minimum(stock[None, :, :], wants[:, None, :]).sum(axis=2)


def _partners(p: Problem, seeds: np.ndarray, singles: np.ndarray, top: int) -> list[tuple[int, int]]:
    """The `top` best (seed, partner) pairs, partners among all holders, scored in one [s, h, m] pass."""
    rest = p.qty - singles[seeds]  # [s, m] what each seed alone leaves
    gain = coverage(p.stock, rest)  # [s, h]
    seed_cost = p.profile.shipment_cost + singles[seeds].sum(axis=1) * p.unit_cost[seeds]
    score = (
        (rest.sum(axis=1)[:, None] - gain) * 1e9
        + seed_cost[:, None]
        + p.profile.shipment_cost
        + gain * p.unit_cost[None, :]
    )
    score[gain <= 0] = np.inf
    score[seeds[:, None] == np.arange(len(p.loc))[None, :]] = np.inf
    flat = score.ravel()
    best = np.argpartition(flat, min(top * 2, flat.size - 1))[: top * 2]
    best = best[np.isfinite(flat[best])]
    pairs: dict[tuple[int, int], None] = {}
    for x in best[np.argsort(flat[best])]:
        s_, h = divmod(int(x), len(p.loc))
        pairs.setdefault(tuple(sorted((int(seeds[s_]), h))), None)  # type: ignore[arg-type]
        if len(pairs) == top:
            break
    # And each seed's own best partner, so that no seed's line of search is crowded out.
    for s_, h in enumerate(np.argmin(score, axis=1)):
        if np.isfinite(score[s_, h]):
            pairs.setdefault(tuple(sorted((int(seeds[s_]), int(h)))), None)  # type: ignore[arg-type]
    return list(pairs)


def _completions(p: Problem, c: Candidate, top: int) -> list[tuple[int, ...]]:
    """`c` plus each of the `top` holders (of all, not only the pool) that best fill what it lacks."""
    remaining = p.qty - c.take.sum(axis=0)
    if not remaining.any():
        return []
    reach = np.arange(len(p.loc))
    gain = coverage(p.stock[reach], remaining[None, :])[0]
    gain[np.isin(reach, c.members)] = 0
    options = np.nonzero(gain > 0)[0]
    est = (
        (remaining.sum() - gain[options]) * 1e9
        + p.profile.shipment_cost
        + gain[options] * p.unit_cost[reach[options]]
    )
    return [tuple(sorted((*c.members, int(reach[j])))) for j in options[np.argsort(est, kind="stable")[:top]]]


def _beam(p: Problem, starts: list[Candidate], depth: int) -> list[Candidate]:
    """Grow the best sets one location at a time, keeping the `BEAM` best (exactly evaluated) each size."""
    frontier, found = starts, []
    for _ in range(depth):
        grown = {m for c in frontier for m in _completions(p, c, BEAM)}
        if not grown:
            break
        frontier = sorted((evaluate(p, m) for m in grown), key=lambda c: c.key)[:BEAM]
        found.extend(frontier)
    return found


def _improve(p: Problem, c: Candidate) -> Candidate:
    """Local search: drop a member, or swap one for a non-member, while the rank improves."""
    improved = True
    while improved:
        improved = False
        best_key = c.key
        for member in c.members:
            rest = tuple(m for m in c.members if m != member)
            trial = evaluate(p, rest)
            if trial.key < best_key:
                c, improved = trial, True
                break
            # The swap that best refills what `member` took, judged by a vector estimate, then evaluated.
            remaining = p.qty - trial.take.sum(axis=0)
            reach = np.arange(len(p.loc))
            gain = coverage(p.stock[reach], remaining[None, :])[0]
            gain[np.isin(reach, c.members)] = -1
            estimate = (remaining.sum() - gain) * 1e9 + p.profile.shipment_cost + gain * p.unit_cost[reach]
            for j in np.argsort(estimate)[:6]:
                if gain[j] <= 0:
                    break
                swapped = evaluate(p, (*rest, int(reach[j])))
                if swapped.key < best_key:
                    c, improved = swapped, True
                    break
            if improved:
                break
    return c


def prepare(
    net: Network,
    request: SourcingRequest,
    profile: SourcingProfile,
    when: datetime | None = None,
    candidates: int = CANDIDATES,
) -> tuple[Problem, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Fence and prune: returns the problem and, per SKU, why stock outside the candidates is out."""
    lines = _merge(request.lines)
    skus = [line.sku_ref for line in lines]
    qty = np.array([line.quantity for line in lines], dtype=np.int64)
    stock = net.gather(skus)
    destination, pickup = _destination(net, request)
    # Without coordinates (an order whose address is not geocoded) every location is equally far.
    dist = net.distances_km(*destination) if destination else np.zeros(net.size)
    fences: dict[str, np.ndarray] = {}
    bit = CAPABILITY_BITS[request.order_type]
    if request.order_type == "CC" and pickup is not None:
        own = np.zeros(net.size, dtype=bool)
        own[pickup] = (net.capabilities[pickup] & bit) != 0
        fences["pickup"] = own | (profile.allow_transfers & ((net.capabilities & CAPABILITY_BITS["HD"]) != 0))
    else:
        fences["order_type"] = (net.capabilities & bit) != 0
        if profile.max_distance_km is not None:
            fences["distance"] = dist <= profile.max_distance_km
    fences["opening_hours"] = net.open_at(request.handling_time or when or now_utc())
    fences["capacity"] = net.has_capacity
    eligible = np.logical_and.reduce(list(fences.values()))

    holders = eligible & (stock > 0).any(axis=1)
    idx = np.nonzero(holders)[0]
    eta = net.lead_hours[idx] + dist[idx] / profile.speed_kmh
    if pickup is not None:
        eta = eta + np.where(
            idx == pickup, 0.0, net.lead_hours[pickup]
        )  # transfers wait for the pickup store too
    sub = stock[idx]
    coverage = np.minimum(sub, qty).sum(axis=1)
    # Three views of a good location: it covers much, it is cheap per unit it covers, or it is
    # among the nearest holders of some SKU. Pruning on coverage alone loses cheap near partners.
    per_unit = profile.shipment_cost / np.maximum(coverage, 1) + dist[idx] * profile.cost_per_unit_km
    near = np.argsort(dist[idx], kind="stable")  # holders, nearest first
    position = np.empty_like(near)
    position[near] = np.arange(len(near))
    # For every SKU at once: how many nearer holders of it each holder has.
    holds = sub[near] > 0
    nth = np.cumsum(holds, axis=0)
    per_sku = max(PER_SKU, candidates // 12)

    def nearest_holders(count: int) -> np.ndarray:
        return near[np.nonzero((holds & (nth <= count)).any(axis=1))[0]]

    by_coverage = np.lexsort((dist[idx], -coverage))
    by_unit_cost = np.argsort(per_unit, kind="stable")
    keep = np.unique(
        np.concatenate([by_coverage[: candidates // 2], by_unit_cost[:candidates], nearest_holders(per_sku)])
    )
    wide = np.unique(np.concatenate([keep, by_unit_cost[: candidates * 3], nearest_holders(per_sku * 3)]))

    problem = Problem(
        skus,
        qty.astype(np.int32),
        idx[near],
        sub[near].astype(np.int32),
        dist[idx][near],
        eta[near],
        profile,
        np.sort(position[keep]),
        np.sort(position[wide]),
        priority=net.priority[idx][near].astype(float),
    )
    return problem, stock, fences, eligible


def search(p: Problem) -> list[Candidate]:
    """Candidate plans, best first, distinct by the locations they use."""
    if len(p.loc) == 0:
        return [evaluate(p, ())]
    singles = np.minimum(p.stock, p.qty)
    single_unf = p.qty.sum() - singles.sum(axis=1)
    single_cost = p.profile.shipment_cost + singles.sum(axis=1) * p.unit_cost
    order = np.lexsort((single_cost, single_unf))
    found = [evaluate(p, (int(i),)) for i in order[:BEAM]]
    if p.profile.max_split >= 1:
        found += [evaluate(p, pair) for pair in _pairs(p, BEAM)]
        # The best partners, among all holders, of the best singles and of the pool's most
        # cost-efficient members (a good pair often joins two half-coverers).
        reach = p.reach
        efficient = reach[np.argsort(single_cost[reach] / np.maximum(singles[reach].sum(axis=1), 1))[:16]]
        firsts = np.unique(np.concatenate([order[:BEAM], efficient]))
        found += [evaluate(p, pair) for pair in _partners(p, firsts, singles, 16)]
        best = min(found, key=lambda c: c.key)
        if best.unfulfilled > 0 and p.profile.max_split >= 2:
            starts = sorted(found, key=lambda c: c.key)[:BEAM]
            found += _beam(p, starts, p.profile.max_split - 1)
            # Three locations: a strong single and the pair that complements it; four: a strong
            # pair and its complementing pair.
            price = single_cost / np.maximum(singles.sum(axis=1), 1)
            seeds: list[Candidate] = [
                evaluate(p, (int(i),))
                for i in np.unique(np.concatenate([order[:SEEDS], np.argsort(price)[:SEEDS]]))
            ]
            if p.profile.max_split >= 3:
                seeds += sorted((c for c in found if len(c.used) == 2), key=lambda c: c.key)[:SEEDS]
            found += [evaluate(p, m) for c in seeds for m in _residual_pairs(p, c, 2)]
    ranked = sorted(found, key=lambda c: c.key)
    # Improvements join the list rather than replace: an alternative plan stays an alternative.
    ranked += [_improve(p, c) for c in ranked[:2]]
    distinct: dict[tuple[int, ...], Candidate] = {}
    for c in sorted(ranked, key=lambda c: c.key):
        distinct.setdefault(c.used, c)
    return list(distinct.values())


def source(
    net: Network,
    request: SourcingRequest,
    profile: SourcingProfile,
    when: datetime | None = None,
    exact: Callable[[Problem], Candidate] | None = None,
) -> SourcingResult:
    """Plans for a request, best first; with `exact`, its answer leads when it beats the heuristic's."""
    p, stock, fences, eligible = prepare(net, request, profile, when)
    ranked = search(p)
    if exact is not None:
        optimum = exact(p)
        if optimum.key < ranked[0].key:
            ranked = [optimum, *(c for c in ranked if c.used != optimum.used)]
    plans = [_plan(net, p, c, request, rank, ranked[0]) for rank, c in enumerate(ranked[: request.limit], 1)]
    best = ranked[0]
    short = p.qty - best.take.sum(axis=0) if best.members else p.qty
    return SourcingResult(
        plans=plans,
        unfulfilled=_unfulfilled(p, short, stock, fences, eligible),
        total=len(ranked),
        available={s: int(stock[eligible, j].sum()) for j, s in enumerate(p.skus)},
    )


def _merge(lines: list[Line]) -> list[Line]:
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku_ref] = merged.get(line.sku_ref, 0) + line.quantity
    return [Line(sku_ref=s, quantity=q) for s, q in merged.items() if q > 0]


def _destination(net: Network, request: SourcingRequest) -> tuple[tuple[float, float] | None, int | None]:
    if request.order_type == "CC":
        if request.pickup_ref is None or request.pickup_ref not in net.index:
            raise ValueError(f"the pickup location {request.pickup_ref!r} is not in the network")
        i = net.index[request.pickup_ref]
        return (float(np.degrees(net.lat[i])), float(np.degrees(net.lon[i]))), i
    if request.latitude is None or request.longitude is None:
        return None, None
    return (request.latitude, request.longitude), None


def _unfulfilled(
    p: Problem, short: np.ndarray, stock: np.ndarray, fences: dict[str, np.ndarray], eligible: np.ndarray
) -> list[Unfulfilled]:
    out = []
    for j, sku in enumerate(p.skus):
        if short[j] <= 0:
            continue
        everywhere, reachable = int(stock[:, j].sum()), int(stock[eligible, j].sum())
        if reachable >= p.qty[j]:
            code, why = "MAX_SPLIT", f"in stock, but only beyond {p.profile.max_split} splits"
        elif everywhere > reachable:
            # The fence that shut out the most of this SKU's stock names the reason.
            lost = {name: int(stock[~mask, j].sum()) for name, mask in fences.items()}
            code, why = FENCE_REASONS[max(lost, key=lost.__getitem__)]
            why = f"{everywhere - reachable} in stock {why}"
        else:
            code, why = (
                "NO_STOCK",
                "not enough stock in the network" if everywhere else "no stock in the network",
            )
        out.append(Unfulfilled(sku_ref=sku, quantity=int(short[j]), reason_code=code, reason=why))
    return out


def _plan(net: Network, p: Problem, c: Candidate, req: SourcingRequest, rank: int, best: Candidate) -> Plan:
    fulfilments = []
    for member, take in zip(c.members, c.take, strict=True):
        if take.sum() == 0:
            continue
        ref = net.refs[int(p.loc[member])]
        fulfilments.append(
            PlanFulfilment(
                location_ref=ref,
                fulfilment_type=req.order_type,
                eta_hours=float(p.eta[member]),
                distance_km=round(float(p.dist[member]), 3),
                transfer_to=req.pickup_ref if req.order_type == "CC" and ref != req.pickup_ref else None,
                lines=[
                    PlanLine(sku_ref=s, quantity=int(q)) for s, q in zip(p.skus, take, strict=True) if q > 0
                ],
            )
        )
    return Plan(
        fulfilments=fulfilments,
        unfulfilled_units=c.unfulfilled,
        splits=c.splits,
        cost=round(c.cost, 4),
        eta_hours=c.eta,
        rank_reasons=_reasons(c, best, p.profile, rank),
    )


def _reasons(c: Candidate, best: Candidate, profile: SourcingProfile, rank: int) -> list[str]:
    values = {
        "unfulfilled": c.unfulfilled,
        "splits": c.splits,
        "cost": round(c.cost, 2),
        "eta": round(c.eta, 1),
    }
    top = {
        "unfulfilled": best.unfulfilled,
        "splits": best.splits,
        "cost": round(best.cost, 2),
        "eta": round(best.eta, 1),
    }
    order = " > ".join(profile.objective)
    if rank == 1:
        return [f"rank 1 by {order}", *(f"{k}={values[k]}" for k in profile.objective)]
    for k in profile.objective:
        if values[k] != top[k]:
            return [f"rank {rank}: behind plan 1 on {k} ({values[k]} vs {top[k]})"]
    return [f"rank {rank}: ties plan 1 on {order}"]
