"""Two common routing rules, as baselines the engine is measured against."""

from __future__ import annotations

import numpy as np

from domain.sourcing.search import Candidate, Problem, evaluate


def nearest_first(p: Problem) -> Candidate:
    """Each unit from the nearest location that has it, adding locations until the split limit."""
    members: list[int] = []
    remaining = p.qty.copy()
    for i in range(len(p.loc)):  # candidates are sorted by distance
        if len(members) > p.profile.max_split or not remaining.any():
            break
        take = np.minimum(p.stock[i], remaining)
        if take.any():
            members.append(i)
            remaining -= take
    return evaluate(p, tuple(members))


def fewest_splits_then_closest(p: Problem) -> Candidate:
    """Shopify's default routing: the closest location that ships everything; else, repeatedly,
    the location that ships the most of what is left (the closest on ties)."""
    members: list[int] = []
    remaining = p.qty.copy()
    while remaining.any() and len(members) <= p.profile.max_split:
        gain = np.minimum(p.stock, remaining).sum(axis=1)
        gain[members] = -1
        best = int(np.argmax(gain))  # argmax takes the first maximum: the closest
        if gain[best] <= 0:
            break
        members.append(best)
        remaining -= np.minimum(p.stock[best], remaining)
    return evaluate(p, tuple(members))


BASELINES = {"nearest_first": nearest_first, "fewest_splits_then_closest": fewest_splits_then_closest}
