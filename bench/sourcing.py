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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import percentile
from domain.sourcing import exact
from domain.sourcing.baselines import BASELINES
from domain.sourcing.engine import prepare
from domain.sourcing.model import SourcingProfile, SourcingRequest
from domain.sourcing.network import Network
from domain.sourcing.search import Problem, search
from domain.sourcing.synthetic import WHEN, network, order


def instances(seed: int, count: int, size: int, lines: int) -> list[tuple[Network, SourcingRequest]]:
    rng = np.random.default_rng(seed)
    out = []
    nets = [network(rng, size, kind, d) for kind in ("dc_rich", "stores_only") for d in (0.05, 0.2, 0.4, 0.6)]
    for i in range(count):
        out.append((nets[i % len(nets)], order(rng, lines)))
    return out


COST_FIRST = SourcingProfile(objective=["unfulfilled", "cost", "splits", "eta"])
# Issue #16's goals for the engine, each an upper bound on one figure of a single run.
TARGETS = {"p50_ms": 3.0, "p99_ms": 10.0, "p99_ms_10000": 50.0, "gap_mean_pct": 0.1, "gap_p95_pct": 1.0}


def timed(
    cases: list[tuple[Network, SourcingRequest]],
    profile: SourcingProfile,
    solve: Callable[[Problem], object] = search,
) -> list[float]:
    """Milliseconds per instance (fencing, pruning and search): the median of three runs, so that a
    hiccup of a shared machine does not pass for the engine's tail."""
    times = []
    for net, req in cases:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            p, *_ = prepare(net, req, profile, WHEN)
            solve(p)
            runs.append((time.perf_counter() - started) * 1000)
        times.append(statistics.median(runs))
    return times


def gap_figures(gaps: list[float]) -> dict[str, float | None]:
    return {
        "gap_mean_pct": round(statistics.fmean(gaps), 3) if gaps else None,
        "gap_p95_pct": round(percentile(gaps, 0.95), 3) if gaps else None,
    }


def main(count: int, seed: int) -> dict[str, Any]:
    profile = SourcingProfile()
    cases = instances(seed, count, 2000, 20)
    timed(cases[:5], profile)  # warm up numpy and the interpreter
    latencies = timed(cases, profile)
    tail = timed(instances(seed + 1, max(count // 2, 20), 10_000, 20), profile)

    gaps: dict[str, list[float]] = {name: [] for name in ("engine", *BASELINES)}
    worse = dict.fromkeys(BASELINES, 0)
    excess, split_excess, unproven = 0, 0, 0
    cost: dict[str, list[tuple[float, float]]] = {name: [] for name in BASELINES}
    fewer_units = dict.fromkeys(BASELINES, 0)
    for net, req in cases:
        p, *_ = prepare(net, req, profile, WHEN)
        mine = search(p).plans[0]
        reference = exact.solve_everywhere(p, time_limit=30, start=mine)
        best = reference.best
        if not reference.proven:
            unproven += 1
            continue
        excess += max(mine.unfulfilled - best.unfulfilled, 0)
        split_excess += max(mine.splits - best.splits, 0) if mine.unfulfilled == best.unfulfilled else 0
        # The gap is a cost gap where a plan gives the optimum's service (units and splits): the
        # objective ranks both before cost. A rule that serves worse is counted instead.
        plans = {"engine": mine, **{name: rule(p) for name, rule in BASELINES.items()}}
        for name, plan in plans.items():
            if (plan.unfulfilled, plan.splits) == (best.unfulfilled, best.splits) and best.cost > 0:
                gaps[name].append(100 * (plan.cost - best.cost) / best.cost)
            elif name in worse:
                worse[name] += 1
        # Cost against cost: the engine with cost ranked before splits (every split still pays its
        # shipment), where a rule ships as many units. Where it ships fewer, that is counted.
        cheapest = search(replace(p, profile=COST_FIRST)).plans[0]
        for name in BASELINES:
            if plans[name].unfulfilled == cheapest.unfulfilled:
                cost[name].append((plans[name].cost, cheapest.cost))
            else:
                fewer_units[name] += int(plans[name].unfulfilled > cheapest.unfulfilled)
    figures: dict[str, Any] = {
        "instances": count,
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "p99_ms_10000": round(percentile(tail, 0.99), 2),
        **gap_figures(gaps["engine"]),
        "gap_instances": len(gaps["engine"]),
        "exact_unproven": unproven,
        "unfulfilled_excess": excess,
        "splits_excess": split_excess,
        "baselines": {
            name: round(sum(b for b, _ in pairs) / sum(e for _, e in pairs), 4) if pairs else None
            for name, pairs in cost.items()
        },
    }
    # Ours over each baseline: the engine's mean cost (cost first) over the rule's, where it ships
    # as many units; `ratio` is the one against the strongest rule (below 1: ahead of every rule).
    by_rule = {
        name: round(sum(e for _, e in pairs) / sum(b for b, _ in pairs), 4) if pairs else None
        for name, pairs in cost.items()
    }
    figures["ratio_by_baseline"] = by_rule
    figures["ratio"] = max((r for r in by_rule.values() if r is not None), default=None)
    met = {name: figures[name] is not None and figures[name] <= goal for name, goal in TARGETS.items()}
    met["unfulfilled_excess"] = excess == 0
    met["ahead_of_baselines"] = all(r is not None and r < 1 for r in by_rule.values())
    figures["targets"] = met
    figures["targets_met"] = all(met.values())
    for name, rule in BASELINES.items():
        times = timed(cases, profile, rule)
        figures[name] = {
            "p50_ms": round(percentile(times, 0.5), 2),
            "p99_ms": round(percentile(times, 0.99), 2),
            **gap_figures(gaps[name]),
            "optimal_service_on": len(gaps[name]),
            "worse_service_on": worse[name],
            "cost_compared_on": len(cost[name]),
            "fewer_units_on": fewer_units[name],
        }
    return figures


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
    print(
        f"engine's cost gap to the exact MILP: mean {f['gap_mean_pct']} %, p95 {f['gap_p95_pct']} % "
        f"(on {f['gap_instances']} instances; the MILP unproven on {f['exact_unproven']})"
    )
    print(f"units left unfulfilled beyond the exact solution: {f['unfulfilled_excess']}")
    for name in BASELINES:
        b = f[name]
        print(
            f"{name}: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms; gap mean {b['gap_mean_pct']} %, "
            f"p95 {b['gap_p95_pct']} % where it gives the optimum's service ({b['optimal_service_on']} "
            f"instances), worse service on {b['worse_service_on']}; mean cost {f['baselines'][name]}x "
            f"the engine's (cost first) on {b['cost_compared_on']}, "
            f"fewer units shipped on {b['fewer_units_on']}"
        )
    print(
        f"ratio: {f['ratio']} (the engine's cost over the strongest baseline's; "
        f"per baseline {f['ratio_by_baseline']})"
    )
    goals = {
        **{k: f"<= {v}" for k, v in TARGETS.items()},
        "unfulfilled_excess": "0",
        "ahead_of_baselines": "ratio < 1",
    }
    for name, ok in f["targets"].items():
        value = f.get(name, f["ratio"] if name == "ahead_of_baselines" else None)
        print(f"target {name} {goals[name]}: {value} {'met' if ok else 'NOT MET'}")
    print(f"all targets met: {f['targets_met']}")
    print(json.dumps(f))
