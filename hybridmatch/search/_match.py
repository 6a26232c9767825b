"""The search loop: proposals first, then one seeded optimizer per mode, ask/tell in batches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..render import RenderJob, RenderPool
from ._archive import Archive
from ._optimizers import make_optimizer
from ._strategy import Strategy, propose

__all__ = ["MatchResult", "search"]


@dataclass
class MatchResult:
    archive: Archive
    interrupted: bool
    wall_s: float


def _starts(proposals: np.ndarray, losses: np.ndarray, modes: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """(index of the best proposal, member indices) of each of ``modes`` k-means clusters, best cluster first."""
    from scipy.cluster.vq import kmeans2

    if len(proposals) == 0:
        return []
    k = min(modes, len(proposals))
    labels = np.zeros(len(proposals), dtype=int) if k == 1 else kmeans2(proposals, k, minit="++", seed=rng, iter=20)[1]
    clusters = []
    for c in range(k):
        members = np.nonzero(labels == c)[0]
        if members.size:
            clusters.append((int(members[np.argmin(losses[members])]), members))
    clusters.sort(key=lambda c: losses[c[0]])
    return clusters


def _tell_proposals(optimizer: Any, values: list[Any], losses: np.ndarray, hold: Callable[[Any], None] | None = None) -> None:
    """Hands already-rendered proposals (as the optimizer's values) to an optimizer, with no extra
    renders: the GA's initial population, the hill climber's incumbent. Optimizers that cannot take
    them (CMA-ES) skip. ``hold`` is applied to each child first (``ParamSpace.hold_choices``)."""
    import nevergrad as ng

    for value, loss in zip(values, losses, strict=True):
        child = optimizer.parametrization.spawn_child(new_value=value)
        if hold is not None:
            hold(child)
        try:
            optimizer.tell(child, float(loss))
        except ng.errors.TellNotAskedNotSupportedError:
            return


ROUND = 8
SIGMA = 0.25  # the unit-space step scale of ParamSpace.to_nevergrad, before the optimizer's own scale


def spread_sigma(space: Any, members: np.ndarray, *, low: float = 0.25, high: float = 4.0) -> float | np.ndarray:
    """Per-coordinate step sizes for a search seeded by ``members`` (unit vectors of one mode's
    proposals): ``SIGMA`` times each coordinate's spread over the members relative to the median
    spread, clipped to ``[low, high]`` times ``SIGMA``. The overall step (the tuned ``scale``) is
    unchanged; only its shape follows where the flow was unsure. Fewer than 4 members, or members
    that all agree, give the plain ``SIGMA``."""
    searched = np.array([p.kind != "choice" for p in space.params])
    if len(members) < 4 or not searched.any():
        return SIGMA
    std = members.std(axis=0)
    typical = float(np.median(std[searched]))
    if typical <= 0.0:
        return SIGMA
    return SIGMA * np.clip(std / typical, low, high)


class _Race:
    """Which mode's optimizer asks next. Modes take turns (round-robin). With ``race`` > 0, once
    every mode has spent ``race`` renders, only the mode with the lowest loss so far (its seed
    proposals included) goes on, with the rest of the budget: the other modes' renders stay in the
    archive, so the returned set keeps their diversity, while the budget goes where the target is
    closest (a one-cut successive halving)."""

    def __init__(self, modes: int, race: int, best: list[float]) -> None:
        self.spent = [0] * modes
        self.best = list(best)
        self.race = race
        self.active = list(range(modes))
        self.turn = 0

    def next(self, n: int) -> list[int]:
        picks = []
        for _ in range(n):
            if self.race and len(self.active) > 1 and min(self.spent[m] for m in self.active) >= self.race:
                self.active = [min(self.active, key=lambda m: self.best[m])]
            m = self.active[self.turn % len(self.active)]
            self.turn += 1
            self.spent[m] += 1
            picks.append(m)
        return picks

    def tell(self, mode: int, loss: float) -> None:
        self.best[mode] = min(self.best[mode], loss)


def _optimizer_for(strategy: Strategy, param: Any, share: int, batch: int) -> Any:
    return make_optimizer(strategy.optimizer, param, budget=share, num_workers=batch, options=dict(strategy.optimizer_options))


def _unit_modes(space: Any, strategy: Strategy, archive: Archive, remaining: int, batch: int,
                rng: np.random.Generator) -> tuple[list[Any], list[float]]:
    """One optimizer per mode of everything rendered so far (the proposals, and a resumed archive's
    renders), over the patch space; and each mode's best loss so far."""
    seen = np.array([e.unit for e in archive.entries]).reshape(-1, space.dim)
    losses = archive.losses
    starts = [(seen[best], members) for best, members in _starts(seen, losses, strategy.modes, rng)]
    while len(starts) < strategy.modes:
        starts.append((space.default_unit() if not starts else space.sample(rng, 1)[0], np.zeros(0, dtype=int)))
    # Raced modes may each end up with the whole rest of the budget; shared ones get a slice.
    share = remaining if strategy.race else max(remaining // len(starts), 1)
    hold = None if strategy.hold is None else (lambda child: space.hold_choices(child, strategy.hold))
    optimizers = []
    for init, members in starts:
        sigma = spread_sigma(space, seen[members]) if strategy.spread else SIGMA
        param = space.to_nevergrad(seed=int(rng.integers(2**31)), init=init, sigma=sigma, hold=strategy.hold)
        optimizer = _optimizer_for(strategy, param, share, batch)
        _tell_proposals(optimizer, [space.nevergrad_value(u) for u in seen[members]], losses[members], hold)
        optimizers.append(optimizer)
    return optimizers, [float(losses[m].min()) if m.size else np.inf for _, m in starts]


def _latent_modes(latent: Any, strategy: Strategy, proposals: np.ndarray, noise: np.ndarray, losses: np.ndarray, remaining: int,
                  batch: int, rng: np.random.Generator) -> tuple[list[Any], list[float]]:
    """One optimizer per mode of this call's proposals, over the flow's noise space (``[optimizer]
    latent``): the modes are clustered on the patches, and each search starts at the noise of its
    mode's best one, with step ``strategy.latent``. Renders a resumed archive held, or prior
    samples, have no noise to start from; with no proposals the modes start at the noise's centre
    and at fresh draws. ``latent`` is the step in the noise itself: the optimizer's ``scale`` sizes
    patch-space steps (after a ``handoff``), so it is divided out here."""
    import nevergrad as ng

    starts = [(noise[best], members) for best, members in _starts(proposals, losses, strategy.modes, rng)]
    while len(starts) < strategy.modes:
        starts.append((np.zeros(latent.dim) if not starts else rng.standard_normal(latent.dim), np.zeros(0, dtype=int)))
    share = remaining if strategy.race else max(remaining // len(starts), 1)
    optimizers = []
    for init, members in starts:
        param = ng.p.Array(init=init).set_mutation(sigma=strategy.latent / float(strategy.optimizer_options.get("scale", 1.0)))
        param.random_state.seed(int(rng.integers(2**31)))
        optimizer = _optimizer_for(strategy, param, share, batch)
        _tell_proposals(optimizer, list(noise[members]), losses[members])
        optimizers.append(optimizer)
    return optimizers, [float(losses[m].min()) if m.size else np.inf for _, m in starts]


def search(
    job: RenderJob,
    strategy: Strategy,
    pool: RenderPool,
    archive: Archive,
    *,
    budget: int,
    seed: int,
    batch: int | None = None,
    on_batch: Callable[[Archive], None] | None = None,
    context: dict | None = None,
) -> MatchResult:
    """Spends ``budget`` renders on ``job``; every evaluation lands in ``archive`` as it arrives.

    Ctrl-C stops the loop after the batch in flight; the result says so (``interrupted``)."""
    space = job.spec.space
    rng = np.random.default_rng(seed)
    # Ask/tell rounds of ROUND candidates (more when there are more workers to keep busy), so a seed
    # gives the same search on 1, 2 or 8 workers: the round size shapes what the optimizers ask.
    batch = batch or max(ROUND, pool.workers)
    t0 = time.perf_counter()
    interrupted = False
    try:
        # A resumed archive (a batch killed mid-target) already holds renders: they count against the
        # budget and, below, seed the optimizers alongside the new proposals.
        left = max(budget - len(archive), 0)
        n = left if strategy.optimizer == "none" else min(strategy.n_proposals, left)
        n_prior = round(n * strategy.prior_share)
        options = {**dict(strategy.proposer_options), **(context or {})}
        latent, noise = None, np.zeros((0, 0))
        if strategy.latent:  # the same samples as the proposer's, with the noise each one came from
            from ..ml.proposer import OVERSAMPLE, latent_for, surrogate_pick

            latent = latent_for(space, job, **options)
            surrogate = options.get("surrogate", False)
            draw = (n - n_prior) * options.get("oversample", OVERSAMPLE) if surrogate else n - n_prior
            noise = latent.noise(draw, int(rng.integers(2**31)), options.get("temperature", 1.0))
            proposals = latent.decode(noise)
            if surrogate:  # keep the samples a surrogate of the synth predicts nearest, with their noise
                keep = surrogate_pick(space, job, proposals, n - n_prior, surrogate)
                noise, proposals = noise[keep], proposals[keep]
        else:
            proposals = propose(strategy.proposer, space, n - n_prior, rng, job=job, **options)
        prior = space.sample(rng, n_prior) if n_prior else np.zeros((0, space.dim))
        fresh = len(archive)
        for units, origin in ((proposals, f"proposal:{strategy.proposer}"), (prior, "proposal:prior")):
            for start in range(0, len(units), batch * 4):
                archive.extend(pool.evaluate(job, units[start : start + batch * 4]), origin=origin)
                if on_batch:
                    on_batch(archive)
        if strategy.optimizer == "none":
            return MatchResult(archive, interrupted, time.perf_counter() - t0)
        if len(archive) >= budget:
            return MatchResult(archive, interrupted, time.perf_counter() - t0)
        # With a handoff, the noise-space search ends at that many renders (or never starts, for an
        # archive resumed past it) and patch-space optimizers take over from the best renders so far.
        handoff = strategy.handoff if latent is not None and strategy.handoff else budget
        optimizers: list[Any] = []
        while len(archive) < budget:
            if latent is not None and len(archive) >= handoff:
                latent, optimizers = None, []
            if not optimizers:
                if latent is None:
                    optimizers, mode_best = _unit_modes(space, strategy, archive, budget - len(archive), batch, rng)
                else:
                    optimizers, mode_best = _latent_modes(latent, strategy, proposals, noise, archive.losses[fresh : fresh + len(noise)],
                                                          handoff - len(archive), batch, rng)
                race = _Race(len(optimizers), strategy.race, mode_best)
            n = min(batch, (handoff if latent is not None else budget) - len(archive))
            asked = [(m, optimizers[m].ask()) for m in race.next(n)]
            if latent is None:
                units = np.array([space.from_nevergrad(c.value) for _, c in asked])
            else:
                units = latent.decode(np.array([c.value for _, c in asked]))
            evals = pool.evaluate(job, units)
            for (m, cand), ev in zip(asked, evals, strict=True):
                optimizers[m].tell(cand, ev.loss)
                race.tell(m, ev.loss)
            for m in sorted({m for m, _ in asked}):
                archive.extend([ev for (mm, _), ev in zip(asked, evals, strict=True) if mm == m],
                               origin=f"{strategy.optimizer}:{m}" if latent is None else f"{strategy.optimizer}:latent:{m}")
            if on_batch:
                on_batch(archive)
    except KeyboardInterrupt:
        interrupted = True
    return MatchResult(archive, interrupted, time.perf_counter() - t0)
