"""The sourcing engine: fences as vector masks, candidate pruning, the search, and plans with reasons.

Plans are ranked lexicographically by the profile's objective (by default: fewest unfulfilled
units, then fewest splits, then lowest cost, then earliest ETA); `search` explains how sets of
locations are found.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np

from domain.sourcing.model import (
    Line,
    Plan,
    PlanFulfillment,
    PlanLine,
    SourcingProfile,
    SourcingRequest,
    SourcingResult,
    Unfulfilled,
)
from domain.sourcing.network import CAPABILITY_BITS, Network, now_utc
from domain.sourcing.search import Candidate, Problem, search

CANDIDATES = 60  # the pool the exact mode solves over, by coverage and cost per unit
PER_SKU = 3  # plus the nearest holders of each SKU, so rare SKUs are represented
FENCE_REASONS = {
    "order_type": ("EXCLUDED_BY_ORDER_TYPE", "only at locations that do not offer this order type"),
    "distance": ("EXCLUDED_BY_DISTANCE", "only at locations beyond the maximum distance"),
    "opening_hours": ("EXCLUDED_BY_OPENING_HOURS", "only at locations closed at the handling time"),
    "capacity": ("CAPACITY", "only at locations whose daily capacity is used up"),
    "pickup": ("EXCLUDED_BY_PICKUP_LOCATION", "not at the pickup location, and transfers are off"),
}


def prepare(
    net: Network,
    request: SourcingRequest,
    profile: SourcingProfile,
    when: datetime | None = None,
    candidates: int = CANDIDATES,
) -> tuple[Problem, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Fence and prune: the problem (every eligible holder, and the pool for the exact mode), the
    stock, the fences and the eligible mask (to say why units stay unfulfilled)."""
    merged = _merge(request.lines)
    skus = list(merged)
    qty = np.fromiter(merged.values(), dtype=np.int64, count=len(merged))
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

    idx = np.nonzero(eligible & (stock > 0).any(axis=1))[0]
    idx = idx[np.argsort(dist[idx], kind="stable")]  # holders, nearest first
    sub, near = stock[idx], dist[idx]
    eta = net.lead_hours[idx] + near / profile.speed_kmh
    if pickup is not None:  # transfers wait for the pickup store too
        eta = eta + np.where(idx == pickup, 0.0, net.lead_hours[pickup])
    coverage = np.minimum(sub, qty).sum(axis=1)
    # Three views of a good location: it covers much, it is cheap per unit it covers, or it is
    # among the nearest holders of some SKU. Pruning on coverage alone loses cheap near partners.
    per_unit = profile.shipment_cost / np.maximum(coverage, 1) + near * profile.cost_per_unit_km
    holds = sub > 0
    # For every SKU at once: how many holders of it are as near.
    nth = np.cumsum(np.ascontiguousarray(holds.T), axis=1, dtype=np.int32).T  # along rows: 3x quicker
    h = len(idx)
    # Partitions, not sorts: only the first few of each view are kept (more coverage first, the
    # nearer on ties, as position and coverage make one distinct key).
    top, cheap = min(candidates // 2, h), min(candidates, h)
    keep = np.concatenate(
        [
            np.argpartition(np.arange(h) - coverage * h, top - 1)[:top] if top else idx[:0],
            np.argpartition(per_unit, cheap - 1)[:cheap] if cheap else idx[:0],
            np.nonzero((holds & (nth <= max(PER_SKU, candidates // 12))).any(axis=1))[0],
        ]
    )
    problem = Problem(
        skus,
        qty.astype(np.int32),
        idx,
        sub.astype(np.int32),
        near,
        eta,
        profile,
        np.unique(keep),
        priority=net.priority[idx].astype(float),
    )
    return problem, stock, fences, eligible


def source(
    net: Network,
    request: SourcingRequest,
    profile: SourcingProfile,
    when: datetime | None = None,
    exact: Callable[[Problem, Candidate], Candidate] | None = None,
) -> SourcingResult:
    """Plans for a request, best first; with `exact`, its answer leads when it beats the heuristic's."""
    p, stock, fences, eligible = prepare(net, request, profile, when)
    found = search(p, request.limit)
    ranked, total = found.plans, found.total
    if exact is not None:
        optimum = exact(p, ranked[0])
        if optimum.key < ranked[0].key:
            ranked = [optimum, *(c for c in ranked if c.used != optimum.used)]
            total += 1
    plans = [_plan(net, p, c, request, rank, ranked[0]) for rank, c in enumerate(ranked[: request.limit], 1)]
    best = ranked[0]
    short = p.qty - best.take.sum(axis=0) if best.members else p.qty
    return SourcingResult(
        plans=plans,
        unfulfilled=_unfulfilled(p, short, stock, fences, eligible),
        total=total,
        available={s: int(stock[eligible, j].sum()) for j, s in enumerate(p.skus)},
    )


def _merge(lines: list[Line]) -> dict[str, int]:
    """Units per SKU, lines of one SKU added up; SKUs asked for no units left out."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku_ref] = merged.get(line.sku_ref, 0) + line.quantity
    return {s: q for s, q in merged.items() if q > 0}


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
    fulfillments = []
    for member, take in zip(c.members, c.take, strict=True):
        if take.sum() == 0:
            continue
        ref = net.refs[int(p.loc[member])]
        fulfillments.append(
            PlanFulfillment(
                location_ref=ref,
                fulfillment_type=req.order_type,
                eta_hours=float(p.eta[member]),
                distance_km=round(float(p.dist[member]), 3),
                transfer_to=req.pickup_ref if req.order_type == "CC" and ref != req.pickup_ref else None,
                lines=[
                    PlanLine(sku_ref=s, quantity=int(q)) for s, q in zip(p.skus, take, strict=True) if q > 0
                ],
            )
        )
    return Plan(
        fulfillments=fulfillments,
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
