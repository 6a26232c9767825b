"""Non-dominated sorting and diversity filtering of the archive."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np

from ..objectives import PARETO_KEYS
from ..render import Evaluation
from ..space import ParamSpace

__all__ = ["fronts", "pareto_ranks", "returned_set", "select_diverse"]


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


def select_diverse(
    entries: Sequence[Evaluation],
    space: ParamSpace,
    *,
    keep: int = 8,
    min_param_distance: float = 0.05,
    min_audio_distance: float = 0.15,
    keys: Sequence[str] = PARETO_KEYS,
    among: Sequence[int] | None = None,
) -> list[int]:
    """Indices of up to ``keep`` entries: Pareto fronts in order, each front by ascending search loss,
    skipping any candidate nearly identical to one already chosen, in parameters (RMS unit-space
    distance modulo the space's symmetries, below ``min_param_distance``) or in audio (RMS fingerprint
    distance below ``min_audio_distance``). Failed renders are never returned. ``among`` limits the
    choice to those indices, still ranked by their fronts over all of ``entries``."""
    valid = np.array([i for i, e in enumerate(entries) if e.error is None], dtype=int)
    points = np.array([[entries[i].objectives[k] for k in keys] for i in valid]).reshape(len(valid), len(keys))
    allowed = None if among is None else set(among)
    unseen = len(valid) if allowed is None else len(allowed)
    chosen: list[int] = []
    for front in fronts(points):  # only as many fronts as it takes to fill the set (or to reach every allowed entry)
        if unseen <= 0:
            break
        for i in sorted((int(valid[j]) for j in front), key=lambda i: entries[i].loss):
            if allowed is not None and i not in allowed:
                continue
            unseen -= 1
            if not _near(entries[i], [entries[c] for c in chosen], space, min_param_distance, min_audio_distance):
                chosen.append(i)
                if len(chosen) == keep:
                    return chosen
    return chosen


def _near(cand: Evaluation, chosen: list[Evaluation], space: ParamSpace, min_param: float, min_audio: float) -> bool:
    """Whether ``cand`` nearly repeats a chosen patch, in parameters or in sound."""
    for other in chosen:
        if space.distance(cand.unit, other.unit) < min_param:
            return True
        if cand.fingerprint.size and other.fingerprint.size and float(np.sqrt(np.mean((cand.fingerprint - other.fingerprint) ** 2))) < min_audio:
            return True
    return False


def returned_set(entries: Sequence[Evaluation], space: ParamSpace, *, keep: int = 8, among: Sequence[int] | None = None) -> dict[str, float]:
    """The set ``select_diverse`` picks from ``entries`` (what ``run --keep`` returns when the scores are the
    presets' sound as loaded), measured as a set: the MSS of its first
    (best-ranked), median and last patch; how many came back; how many distinct sets of discrete
    choices they hold; and their mean pairwise distance in parameters (modulo the space's
    symmetries) and in audio (RMS between fingerprints, the measure ``select_diverse`` uses). A
    search that spends its budget around one point returns near-duplicates, which are skipped, so its
    later patches come from further down the archive."""
    chosen = [entries[i] for i in select_diverse(entries, space, keep=keep, among=among)]
    if not chosen:
        return {}
    mss = np.array([e.objectives["mss"] for e in chosen])
    choices = [i for i, p in enumerate(space.params) if p.kind == "choice"]
    pairs = list(itertools.combinations(chosen, 2))
    audio = [float(np.sqrt(np.mean((a.fingerprint - b.fingerprint) ** 2))) for a, b in pairs if a.fingerprint.size and b.fingerprint.size]
    return {
        "first_mss": float(mss[0]),
        "median_mss": float(np.median(mss)),
        "last_mss": float(mss[-1]),
        "returned": len(chosen),
        "choice_sets": len({tuple(np.round(e.unit[choices], 6)) for e in chosen}),
        "param_spread": float(np.mean([space.distance(a.unit, b.unit) for a, b in pairs])) if pairs else 0.0,
        "audio_spread": float(np.mean(audio)) if audio else 0.0,
    }
