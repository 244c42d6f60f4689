"""Reservations per second with 32 concurrent routings competing for the same SKUs (issue #13), on
SQLite and on PostgreSQL, against the same number of plain inventory reads as the baseline.

Each operation holds 1 unit of each of 3 SKUs at one of 4 locations (picked in turn): one
transaction of 3 conditional updates and 3 inserts, the writes routing makes per fulfillment. The
stock is ample, so every reservation succeeds; contention is on the positions' rows. The baseline
reads the same 3 positions (one query) as often, from as many threads. Rounds alternate.

    python bench/reservations.py [--threads 32] [--operations 1600] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import POSTGRES, postgres_database
from domain.sourcing.model import InventoryPosition
from storage import network, reservations
from storage.engine import make_engine, migrate
from storage.reservations import Hold

SKUS = ("A", "B", "C")
LOCATIONS = ("L1", "L2", "L3", "L4")
TENANT = "bench"


def rate(threads: int, operations: int, op: Callable[[int], object]) -> float:
    """Operations per second, `threads` at a time."""
    counter = iter(range(operations))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            op(n)

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(work) for _ in range(threads)]:
            f.result()
    return operations / (time.perf_counter() - began)


def measure(url: str, threads: int, operations: int, rounds: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate(engine)
    now = datetime.now(UTC)
    stock = [InventoryPosition(location_ref=loc, sku_ref=s, on_hand=10**9) for loc in LOCATIONS for s in SKUS]
    network.upsert_inventory(engine, TENANT, stock, now)
    run = uuid.uuid4().hex[:6]

    def reserve(n: int) -> None:
        loc = LOCATIONS[n % len(LOCATIONS)]
        holds = [Hold(owner_id=f"{run}-{n}", location_ref=loc, sku_ref=s, quantity=1) for s in SKUS]
        reservations.reserve(engine, TENANT, f"order-{run}-{n}", holds, now)

    def read(n: int) -> None:
        network.inventory(engine, TENANT, location_ref=LOCATIONS[n % len(LOCATIONS)], skus=list(SKUS))

    ours, base = [], []
    for r in range(rounds):
        run = f"{uuid.uuid4().hex[:6]}-{r}"
        ours.append(rate(threads, operations, reserve))
        base.append(rate(threads, operations, read))
    committed = sum(p.reserved_by_orders for p in network.inventory(engine, TENANT))
    engine.dispose()
    return {
        "reservations_per_s": round(statistics.median(ours), 1),
        "reads_per_s": round(statistics.median(base), 1),
        "ratio": round(statistics.median(ours) / statistics.median(base), 3),
        "units_committed": committed,
    }


def main(threads: int, operations: int, rounds: int, postgres: str) -> dict[str, object]:
    figures: dict[str, object] = {"threads": threads, "operations": operations}
    sqlite = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-res-')) / 'store.db'}"
    figures["sqlite"] = measure(sqlite, threads, operations, rounds)
    with postgres_database(postgres, "bench_res") as database:
        figures["postgresql"] = measure(database, threads, operations, rounds)
    figures["ratio"] = min(figures["sqlite"]["ratio"], figures["postgresql"]["ratio"])  # type: ignore[index]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--operations", type=int, default=1600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=POSTGRES, help="a server URL whose user may create databases")
    args = parser.parse_args()
    f = main(args.threads, args.operations, args.rounds, args.postgres)
    for db in ("sqlite", "postgresql"):
        d = f[db]
        print(
            f"{db}: {d['reservations_per_s']} reservations/s (3 positions each, {args.threads} threads) "  # type: ignore[index]
            f"against {d['reads_per_s']} reads/s of the same positions: ratio {d['ratio']}"  # type: ignore[index]
        )
    print(f"ratio: {f['ratio']} (the lower of the two: reservations over reads)")
    print(json.dumps(f))
