"""Held-out evaluation by audio metrics: a checkpoint's samples re-rendered and scored against the
true patch of dataset items the model never trained on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..objectives import PARETO_KEYS
from ..render import RenderJob, RenderPool
from ..synths import SynthSpec
from .checkpoint import Checkpoint
from .dataset import FlowData

__all__ = ["HOLDOUT", "evaluate", "evaluate_surrogate"]

HOLDOUT = 0.05  # share of a dataset held out from training, for evaluation


def _held_out_jobs(spec: SynthSpec, data: FlowData, idx: np.ndarray, tail: float | None) -> Iterator[RenderJob]:
    """A target for each held-out item: its true patch rendered at its note and length, with ``tail``
    seconds after note-off (default: the config's ``release``, which is what the dataset used)."""
    synth = spec.build()
    release = float(spec.render.get("release", 0.5)) if tail is None else tail
    for i in idx:
        units, _, cond = data.batch(np.array([i]))
        note, duration = int(cond[0, 0]), float(cond[0, 1])
        target = synth.render(spec.space.to_native(units[0].astype(np.float64)), note=note, duration=duration, seconds=duration + release)
        yield RenderJob(spec, np.atleast_2d(np.asarray(target, dtype=np.float32)), note, duration)


def evaluate(
    ckpt: Checkpoint, spec: SynthSpec, data: FlowData, idx: np.ndarray, *, n: int, workers: int, seed: int = 0, steps: int = 16, guidance: float = 2.0,
    tail: float | None = None,
) -> dict[str, Any]:
    """Audio metrics of re-rendered samples on held-out items, next to prior samples as a floor.

    For each item the true patch is rendered at its note and length; ``n`` model samples (one for a
    regressor) and ``n`` prior samples are rendered and scored against it. Reports the median over
    items of the best-of-n and mean-of-n for every Pareto objective. ``tail`` (seconds rendered after
    note-off for the target) defaults to the config's ``release``, which is what the dataset used."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {"model": [], "model_best": [], "prior": [], "prior_best": []}
    with RenderPool(workers) as pool:
        for job in _held_out_jobs(spec, data, idx, tail):
            proposals = ckpt.propose(job.target, spec.sample_rate, job.note, job.duration, n, seed=int(rng.integers(2**31)), steps=steps,
                                     guidance=guidance)
            for name, units_ in (("model", proposals), ("prior", spec.space.sample(rng, n))):
                evals = pool.evaluate(job, units_)
                objs = np.array([[e.objectives[k] for k in PARETO_KEYS] for e in evals])
                rows[name].append(dict(zip(PARETO_KEYS, objs.mean(axis=0).tolist(), strict=True)))
                best = objs[int(np.argmin([e.loss for e in evals]))]
                rows[f"{name}_best"].append(dict(zip(PARETO_KEYS, best.tolist(), strict=True)))
    return {
        "items": len(idx),
        "n": n,
        **{name: {k: round(float(np.median([r[k] for r in rs])), 4) for k in PARETO_KEYS} for name, rs in rows.items()},
    }


def evaluate_surrogate(ckpt: Checkpoint, spec: SynthSpec, data: FlowData, idx: np.ndarray, *, n: int, pool_n: int = 64, workers: int,
                       seed: int = 0, tail: float | None = None) -> dict[str, Any]:
    """How well a surrogate picks what to render, by audio metrics: for each held-out item, ``pool_n``
    prior patches are rendered and scored against the true patch's render; ``model_best`` is the best
    (by search loss) of the ``n`` the surrogate ranks first, ``prior_best`` the best of ``n`` of them
    taken at random (the first ``n`` drawn), ``model`` / ``prior`` the means over those ``n``, and
    ``spearman`` the rank correlation of the surrogate's score with the search loss over the pool."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {"model": [], "model_best": [], "prior": [], "prior_best": []}
    rhos: list[float] = []
    with RenderPool(workers) as pool:
        for job in _held_out_jobs(spec, data, idx, tail):
            cand = spec.space.sample(rng, pool_n)
            evals = pool.evaluate(job, cand)
            objs = np.array([[e.objectives[k] for k in PARETO_KEYS] for e in evals])
            loss = np.array([e.loss for e in evals])
            predicted = ckpt.score(job.target, spec.sample_rate, job.note, job.duration, cand)
            ranked = np.argsort(predicted, kind="stable")
            rhos.append(float(spearmanr(predicted, loss).statistic))
            for name, pick in (("model", ranked[:n]), ("prior", np.arange(n))):
                rows[name].append(dict(zip(PARETO_KEYS, objs[pick].mean(axis=0).tolist(), strict=True)))
                rows[f"{name}_best"].append(dict(zip(PARETO_KEYS, objs[pick[int(np.argmin(loss[pick]))]].tolist(), strict=True)))
    return {
        "items": len(idx),
        "n": n,
        "pool": pool_n,
        "spearman": round(float(np.nanmedian(rhos)), 4),
        **{name: {k: round(float(np.median([r[k] for r in rs])), 4) for k in PARETO_KEYS} for name, rs in rows.items()},
    }

