"""Non-dominated sorting and diversity filtering of the archive."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..objectives import PARETO_KEYS
from ..render import Evaluation
from ..space import ParamSpace

__all__ = ["pareto_ranks", "returned_set", "select_diverse"]


def pareto_ranks(points: np.ndarray) -> np.ndarray:
    """Front index of each row of ``points`` (n, m), minimization; 0 is the non-dominated front."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    ranks = np.full(n, -1)
    remaining = np.arange(n)
    front = 0
    while remaining.size:
        p = points[remaining]
        le = np.all(p[:, None, :] <= p[None, :, :], axis=-1)
        lt = np.any(p[:, None, :] < p[None, :, :], axis=-1)
        dominated = np.any(le & lt, axis=0)  # column j dominated by some row i
        ranks[remaining[~dominated]] = front
        remaining = remaining[dominated]
        front += 1
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
    valid = [i for i, e in enumerate(entries) if e.error is None]
    if not valid:
        return []
    points = np.array([[entries[i].objectives[k] for k in keys] for i in valid])
    ranks = pareto_ranks(points)
    order = sorted(range(len(valid)), key=lambda j: (ranks[j], entries[valid[j]].loss))
    if among is not None:
        allowed = set(among)
        order = [j for j in order if valid[j] in allowed]
    chosen: list[int] = []
    for j in order:
        cand = entries[valid[j]]
        ok = True
        for c in chosen:
            other = entries[c]
            if space.distance(cand.unit, other.unit) < min_param_distance:
                ok = False
                break
            if cand.fingerprint.size and other.fingerprint.size:
                if float(np.sqrt(np.mean((cand.fingerprint - other.fingerprint) ** 2))) < min_audio_distance:
                    ok = False
                    break
        if ok:
            chosen.append(valid[j])
            if len(chosen) == keep:
                break
    return chosen


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
