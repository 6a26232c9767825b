"""Non-dominated sorting: the Pareto fronts of a set of scored patches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["fronts", "pareto_ranks"]


BLOCK = 512  # rows compared at once while peeling a front: memory is O(BLOCK x (front + BLOCK)), never O(n^2)


def fronts(points: np.ndarray) -> Iterator[np.ndarray]:
    """Row indices of ``points`` (n, m), minimization, one Pareto front at a time (0 first), peeled
    lazily: a caller that needs only the best few fronts pays only for those, and memory stays O(n)."""
    points = np.asarray(points, dtype=np.float64)
    remaining = np.arange(len(points))
    while remaining.size:
        front = remaining[_first_front(points[remaining])]
        yield front
        remaining = np.setdiff1d(remaining, front, assume_unique=True)


def _first_front(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows. In lexicographic order a dominator always comes before what
    it dominates, so one sweep in blocks, each checked against the front so far and against itself,
    finds them (a row dominated by anything is dominated by some front member)."""
    order = np.lexsort(points.T[::-1])
    front = np.zeros(0, dtype=int)
    for start in range(0, len(order), BLOCK):
        block = order[start : start + BLOCK]
        p = points[block]
        by_front = _dominated(points[front], p) if front.size else np.zeros(len(block), dtype=bool)
        front = np.concatenate([front, block[~(by_front | _dominated(p, p))]])
    return np.sort(front)


def _dominated(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``b``: whether some row of ``a`` dominates it."""
    le = np.all(a[:, None, :] <= b[None, :, :], axis=-1)
    lt = np.any(a[:, None, :] < b[None, :, :], axis=-1)
    return np.any(le & lt, axis=0)


def pareto_ranks(points: np.ndarray) -> np.ndarray:
    """Front index of each row of ``points`` (n, m), minimization; 0 is the non-dominated front."""
    ranks = np.full(len(points), -1)
    for rank, front in enumerate(fronts(points)):
        ranks[front] = rank
    return ranks
