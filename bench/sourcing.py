"""The sourcing engine: latency, and cost gap against the exact MILP, on seeded random networks.

Networks are DC-rich or stores-only, with stock density 5-60 %; orders have 1-50 lines. The headline
case is 20 lines on 2,000 locations; the latency tail is also shown for 10,000 locations. Baselines,
run on the same instances: nearest-location-first, and fewest-splits-then-closest (Shopify's default).

    python bench/sourcing.py [--instances 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import percentile
from domain.sourcing import exact
from domain.sourcing.baselines import BASELINES
from domain.sourcing.engine import prepare, search
from domain.sourcing.model import Line, SourcingProfile, SourcingRequest
from domain.sourcing.network import CAPABILITY_BITS, Network

CATALOGUE = 400
WHEN = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # a Wednesday, stores open


def network(rng: np.random.Generator, size: int, kind: str, density: float) -> Network:
    """A random network: locations over a 1,000 km square, stock per SKU by density and location type."""
    lat = rng.uniform(45.0, 54.0, size)
    lon = rng.uniform(2.0, 16.0, size)
    # 0 DC, 1 warehouse, 2 store
    types = rng.choice(3, size, p=[0.1, 0.2, 0.7]) if kind == "dc_rich" else np.full(size, 2)
    holds = (
        rng.random((size, CATALOGUE)) < np.minimum(density * np.array([3.0, 1.8, 1.0])[types], 0.95)[:, None]
    )
    qty = rng.integers(1, 25, (size, CATALOGUE)) * np.array([8, 3, 1])[types][:, None]
    stock = np.where(holds, qty, 0)
    return Network(
        refs=[f"L{i}" for i in range(size)],
        index={f"L{i}": i for i in range(size)},
        lat=np.radians(lat),
        lon=np.radians(lon),
        capabilities=np.where(
            types == 2, CAPABILITY_BITS["HD"] | CAPABILITY_BITS["CC"], CAPABILITY_BITS["HD"]
        ),
        has_capacity=rng.random(size) > 0.02,
        lead_hours=np.array([2.0, 4.0, 6.0])[types],
        priority=np.zeros(size, dtype=np.int64),
        hour_groups=np.zeros(size, dtype=np.int64),
        groups=[("UTC", ())],
        stock={f"S{j}": stock[:, j].astype(np.int64) for j in range(CATALOGUE)},
    )


def order(rng: np.random.Generator, lines: int) -> SourcingRequest:
    skus = rng.choice(CATALOGUE, lines, replace=False)
    return SourcingRequest(
        order_type="HD",
        lines=[Line(sku_ref=f"S{s}", quantity=int(rng.integers(1, 4))) for s in skus],
        latitude=float(rng.uniform(45.0, 54.0)),
        longitude=float(rng.uniform(2.0, 16.0)),
        limit=5,
        handling_time=WHEN,
    )


def instances(seed: int, count: int, size: int, lines: int) -> list[tuple[Network, SourcingRequest]]:
    rng = np.random.default_rng(seed)
    out = []
    nets = [network(rng, size, kind, d) for kind in ("dc_rich", "stores_only") for d in (0.05, 0.2, 0.4, 0.6)]
    for i in range(count):
        out.append((nets[i % len(nets)], order(rng, lines)))
    return out


def timed(cases: list[tuple[Network, SourcingRequest]], profile: SourcingProfile) -> list[float]:
    times = []
    for net, req in cases:
        started = time.perf_counter()
        p, *_ = prepare(net, req, profile, WHEN)
        search(p)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(count: int, seed: int) -> dict[str, object]:
    profile = SourcingProfile()
    cases = instances(seed, count, 2000, 20)
    timed(cases[:5], profile)  # warm up numpy and the interpreter
    latencies = timed(cases, profile)
    tail = timed(instances(seed + 1, max(count // 2, 20), 10_000, 20), profile)

    gaps, excess, split_excess, unproven = [], 0, 0, 0
    cost: dict[str, list[float]] = {k: [] for name in BASELINES for k in (name, f"engine_vs_{name}")}
    worse_service = dict.fromkeys(BASELINES, 0)
    for net, req in cases:
        p, *_ = prepare(net, req, profile, WHEN)
        mine = search(p).plans[0]
        reference = exact.solve_everywhere(p, time_limit=20)
        best = reference.best
        if not reference.proven:
            unproven += 1
            continue
        excess += max(mine.unfulfilled - best.unfulfilled, 0)
        split_excess += max(mine.splits - best.splits, 0) if mine.unfulfilled == best.unfulfilled else 0
        if (mine.unfulfilled, mine.splits) == (best.unfulfilled, best.splits) and best.cost > 0:
            gaps.append(100 * (mine.cost - best.cost) / best.cost)
        # Cost is compared at equal service: where a rule leaves as many units unfulfilled and ships
        # in as many parts as the engine. Where it serves worse, that is counted instead.
        for name, rule in BASELINES.items():
            other = rule(p)
            if (other.unfulfilled, other.splits) == (mine.unfulfilled, mine.splits):
                cost[name].append(other.cost)
                cost[f"engine_vs_{name}"].append(mine.cost)
            else:
                worse_service[name] += int(
                    (other.unfulfilled, other.splits) > (mine.unfulfilled, mine.splits)
                )
    return {
        "instances": count,
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "p99_ms_10000": round(percentile(tail, 0.99), 2),
        "gap_mean_pct": round(statistics.fmean(gaps), 3) if gaps else 0.0,
        "gap_p95_pct": round(percentile(gaps, 0.95), 3) if gaps else 0.0,
        "gap_instances": len(gaps),
        "exact_unproven": unproven,
        "unfulfilled_excess": excess,
        "splits_excess": split_excess,
        "baselines": {
            name: round(statistics.fmean(cost[name]) / statistics.fmean(cost[f"engine_vs_{name}"]), 4)
            if cost[name]
            else None
            for name in BASELINES
        },
        "baselines_compared_on": {name: len(cost[name]) for name in BASELINES},
        "baselines_worse_service": worse_service,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    f = main(args.instances, args.seed)
    print(f"engine, 20 lines x 2,000 locations: p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms")
    print(f"engine, 20 lines x 10,000 locations: p99 {f['p99_ms_10000']} ms")
    print(f"gap to the exact MILP: mean {f['gap_mean_pct']} %, p95 {f['gap_p95_pct']} %")
    print(f"units left unfulfilled beyond the exact solution: {f['unfulfilled_excess']}")
    print(f"baselines' mean cost / engine's: {f['baselines']}")
    print(json.dumps(f))
