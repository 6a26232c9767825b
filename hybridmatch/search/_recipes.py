"""The returned set as recipes: distinct ways of making the target's sound, each the best patch found for it.

A patch starts a new recipe when it is far from every better recipe both in how it is built
(``ParamSpace.recipe_distance`` at least ``RECIPE_DISTANCE``: on Vital's 52 parameters one flipped
filter model alone is 0.14, not enough; a flipped model with a moved oscillator, or several knobs
moved by a third of their range, is) and in how it sounds (the RMS between 48-float fingerprints
at least ``AUDIO_DISTANCE``, so knobs that make no audible difference do not make a recipe).
Otherwise it belongs to the nearest better recipe, whose best patch already stands for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..render import Evaluation
from ..space import ParamSpace

__all__ = ["AUDIO_DISTANCE", "NEAR_BEST", "RECIPE_DISTANCE", "near_best", "recipe_diff", "returned_set", "select_recipes"]

RECIPE_DISTANCE = 0.15
AUDIO_DISTANCE = 0.15
NEAR_BEST = 1.25  # a recipe counts as a real alternative when its MSS is within this factor of the best one's
BLOCK = 4096  # candidates compared with a new recipe at once (memory: BLOCK x symmetries x dims)


def select_recipes(entries: Sequence[Evaluation], space: ParamSpace, *, keep: int = 8, among: Sequence[int] | None = None) -> list[int]:
    """Indices of up to ``keep`` recipes in ``entries``, ranked by loss: walking the entries from the
    lowest loss up, each one far from every recipe chosen so far (see the module) becomes the next
    recipe, so each is the best patch of its own. Failed renders are never chosen; ``among`` limits
    the choice to those indices. Costs ``keep`` vectorized passes over the entries, never n x n."""
    pool = [i for i in (range(len(entries)) if among is None else sorted(set(among))) if entries[i].error is None]
    pool.sort(key=lambda i: entries[i].loss)
    if not pool:
        return []
    units = np.array([entries[i].unit for i in pool], dtype=np.float64)
    width = max(entries[i].fingerprint.size for i in pool)
    heard = np.array([entries[i].fingerprint.size == width > 0 for i in pool])  # renders with a fingerprint
    prints = np.array([entries[i].fingerprint if h else np.zeros(width) for i, h in zip(pool, heard, strict=True)]).reshape(len(pool), width)
    open_ = np.ones(len(pool), dtype=bool)  # not yet within a chosen recipe
    chosen: list[int] = []
    while len(chosen) < keep and open_.any():
        first = int(np.argmax(open_))  # the best entry no recipe holds yet
        chosen.append(pool[first])
        open_ &= ~_within(space, units, prints, heard, first)
    return chosen


def _within(space: ParamSpace, units: np.ndarray, prints: np.ndarray, heard: np.ndarray, r: int) -> np.ndarray:
    """Which entries belong to the recipe of entry ``r``: near it in how they are built or in sound
    (where both have a fingerprint)."""
    near = np.zeros(len(units), dtype=bool)
    for start in range(0, len(units), BLOCK):
        block = slice(start, start + BLOCK)
        near[block] = _recipe_gaps(space, units[r], units[block]) < RECIPE_DISTANCE
        if heard[r]:
            near[block] |= heard[block] & (np.sqrt(np.mean((prints[block] - prints[r]) ** 2, axis=1)) < AUDIO_DISTANCE)
    near[r] = True
    return near


def _recipe_gaps(space: ParamSpace, unit: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``space.recipe_distance(unit, o)`` for every row ``o`` of ``others``, at once."""
    return np.min([space.recipe_gaps(others, copy) for copy in space.orbit(unit)], axis=0)


def near_best(mss: Sequence[float] | np.ndarray) -> int:
    """How many recipes (MSS in rank order) are within ``NEAR_BEST`` of the first one's MSS."""
    return int(np.sum(np.asarray(mss) <= NEAR_BEST * mss[0])) if len(mss) else 0


def returned_set(entries: Sequence[Evaluation], space: ParamSpace, *, keep: int = 8, among: Sequence[int] | None = None) -> dict[str, float | None]:
    """The recipes ``select_recipes`` picks from ``entries`` (what ``run --keep`` returns when the
    scores are the presets' sound as loaded), measured as a set: how many came back; how many are
    within ``NEAR_BEST`` of the first one's MSS; the MSS of the 1st, 4th and 8th (None when fewer
    came back); and their mean pairwise distance in how they are built and in audio."""
    chosen = [entries[i] for i in select_recipes(entries, space, keep=keep, among=among)]
    if not chosen:
        return {}
    mss = np.array([e.objectives["mss"] for e in chosen])
    pairs = [(a, b) for n, a in enumerate(chosen) for b in chosen[n + 1 :]]
    audio = [float(np.sqrt(np.mean((a.fingerprint - b.fingerprint) ** 2))) for a, b in pairs if a.fingerprint.size and b.fingerprint.size]
    return {
        "returned": len(chosen),
        "near_best": near_best(mss),
        **{f"mss_{k}": float(mss[k - 1]) if len(mss) >= k else None for k in (1, 4, 8)},
        "recipe_spread": float(np.mean([space.recipe_distance(a.unit, b.unit) for a, b in pairs])) if pairs else 0.0,
        "audio_spread": float(np.mean(audio)) if audio else 0.0,
    }


def recipe_diff(space: ParamSpace, unit: np.ndarray, first: np.ndarray, *, min_step: float = 0.05) -> dict[str, Any]:
    """What makes the patch ``unit`` a different recipe from ``first`` (recipe #1): ``unit``'s
    symmetric slots (oscillators) are first lined up with ``first``'s, and ``reordered`` says
    whether that swapped any. Then every discrete choice that differs, with both values, and every
    number that moved by at least ``min_step`` of its range, with both values and the change in
    native units, largest move first. ``param`` is the recipe's own parameter; ``against`` names
    #1's parameter it was lined up with, where the slots were swapped."""
    first = np.asarray(first, dtype=np.float64)
    orbit = space.orbit(unit)
    aligned = int(np.argmin(space.recipe_gaps(orbit, first)))
    source = space.orbit(np.arange(space.dim, dtype=np.float64))[aligned].astype(int)  # the recipe's own slot at each position
    mine, theirs = space.to_native(orbit[aligned]), space.to_native(first)
    choices, moved = [], []
    for i, p in enumerate(space.params):
        names = {"param": space.params[source[i]].name, **({"against": p.name} if source[i] != i else {})}
        step = abs(float(orbit[aligned][i]) - float(first[i]))
        if p.kind == "choice" and mine[p.name] != theirs[p.name]:
            choices.append({**names, "first": theirs[p.name], "this": mine[p.name]})
        elif p.kind != "choice" and step >= min_step:
            moved.append({**names, "first": theirs[p.name], "this": mine[p.name], "change": float(mine[p.name]) - float(theirs[p.name]),
                          "step": round(step, 4)})
    moved.sort(key=lambda m: -float(m["step"]))
    return {"reordered": aligned != 0, "choices": choices, "moved": moved}
