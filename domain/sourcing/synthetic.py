"""Seeded random networks and orders: what the sourcing benchmarks and tests run on.

Networks are DC-rich or stores-only over a 1,000 km square, stock per SKU by density and location
type; the same seed always gives the same network.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from domain.sourcing.model import Line, SourcingRequest
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
        groups=[("UTC", (), ())],
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
