"""A tenant's network in columns (numpy arrays), built once and reused by every sourcing run.

Per-request work is then vector arithmetic: stock for the requested SKUs is gathered from one
vector per SKU, and opening hours are evaluated once per (timezone, hours) group, not per location.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

from domain.sourcing.model import WEEKDAYS, InventoryPosition, Location

EARTH_KM = 6371.0088
CAPABILITY_BITS = {"HD": 1, "CC": 2}


HoursGroup = tuple[str, tuple[tuple[str, tuple[tuple[str, str], ...]], ...], tuple[date, ...]]


@dataclass
class Network:
    refs: list[str]
    index: dict[str, int]
    lat: np.ndarray  # radians
    lon: np.ndarray
    capabilities: np.ndarray  # bit set of CAPABILITY_BITS
    has_capacity: np.ndarray  # bool
    lead_hours: np.ndarray
    priority: np.ndarray
    hour_groups: np.ndarray  # group id per location
    groups: list[HoursGroup]  # (time zone, opening hours, closed dates) shared by locations
    stock: dict[str, np.ndarray] = field(default_factory=dict)  # sku -> available per location

    @cached_property
    def cos_lat(self) -> np.ndarray:
        """Per location, for every distance asked of this network."""
        return np.cos(self.lat)

    @property
    def size(self) -> int:
        return len(self.refs)

    @classmethod
    def build(
        cls, locations: list[Location], positions: Iterable[InventoryPosition | tuple[str, str, int]]
    ) -> Network:
        """From locations and positions (models, or `(location, sku, available)` rows from storage)."""
        refs = [loc.ref for loc in locations]
        index = {ref: i for i, ref in enumerate(refs)}
        group_of: dict[HoursGroup, int] = {}
        group_ids = []
        for loc in locations:
            key = (
                loc.timezone,
                tuple(sorted((d, tuple(map(tuple, s))) for d, s in loc.opening_hours.items())),
                tuple(sorted(loc.closed_dates)),
            )
            group_ids.append(group_of.setdefault(key, len(group_of)))  # type: ignore[arg-type]
        stock: dict[str, np.ndarray] = {}
        for p in positions:
            ref, sku, available = (
                (p.location_ref, p.sku_ref, p.available) if isinstance(p, InventoryPosition) else p
            )
            i = index.get(ref)
            if i is None:
                continue
            vector = stock.get(sku)
            if vector is None:
                vector = stock[sku] = np.zeros(len(refs), dtype=np.int64)
            vector[i] = available
        return cls(
            refs=refs,
            index=index,
            lat=np.radians([loc.latitude for loc in locations]),
            lon=np.radians([loc.longitude for loc in locations]),
            capabilities=np.array(
                [sum(CAPABILITY_BITS[c] for c in set(loc.capabilities)) for loc in locations]
            ),
            has_capacity=np.array(
                [loc.daily_capacity is None or loc.capacity_used < loc.daily_capacity for loc in locations],
                dtype=bool,
            ),
            lead_hours=np.array([loc.lead_time_hours for loc in locations], dtype=float),
            priority=np.array([loc.priority for loc in locations]),
            hour_groups=np.array(group_ids, dtype=np.int64),
            groups=list(group_of),
            stock=stock,
        )

    def distances_km(self, latitude: float, longitude: float) -> np.ndarray:
        """Great-circle distance from every location to a point (haversine)."""
        lat, lon = np.radians(latitude), np.radians(longitude)
        a = np.sin((self.lat - lat) / 2) ** 2 + self.cos_lat * np.cos(lat) * np.sin((self.lon - lon) / 2) ** 2
        return 2 * EARTH_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))

    def open_at(self, when: datetime) -> np.ndarray:
        """Which locations are open at `when` in their own time zone (no hours given: always open)."""
        verdict = np.empty(len(self.groups), dtype=bool)
        for g, (zone, hours, closed) in enumerate(self.groups):
            local = when.astimezone(ZoneInfo(zone))
            if local.date() in closed:
                verdict[g] = False
                continue
            if not hours:
                verdict[g] = True
                continue
            spans = dict(hours).get(WEEKDAYS[local.weekday()], ())
            now = local.strftime("%H:%M")
            verdict[g] = any(start <= now < end for start, end in spans)
        return verdict[self.hour_groups]

    def with_stock(self, available: dict[str, dict[str, int]], skus: list[str]) -> Network:
        """This network with the `skus`' stock as `available` says (location -> SKU -> units) and
        none elsewhere: a snapshot made current for one order's SKUs."""
        stock = dict(self.stock)
        for sku in skus:
            vector = np.zeros(self.size, dtype=np.int64)
            for ref, held in available.items():
                i = self.index.get(ref)
                if i is not None and held.get(sku):
                    vector[i] = held[sku]
            stock[sku] = vector
        return replace(self, stock=stock)

    def gather(self, skus: list[str]) -> np.ndarray:
        """Available stock, locations by requested SKUs: a view of SKU-major rows, as cheap to build
        as a copy of each vector, and quick to reduce across the SKUs of a location."""
        zeros = np.zeros(self.size, dtype=np.int64)
        rows = np.array([self.stock.get(s, zeros) for s in skus], dtype=np.int64)
        return rows.reshape(len(skus), self.size).T


def now_utc() -> datetime:
    return datetime.now(UTC)
