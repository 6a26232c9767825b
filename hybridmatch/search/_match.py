"""The search loop: proposals first, then one seeded optimizer per mode, asking as each candidate is told."""

from __future__ import annotations

import contextlib
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._ng import nevergrad
from ..errors import ConfigError
from ..render import Evaluation, RenderJob, RenderPool
from ._archive import Archive
from ._optimizers import make_optimizer
from ._screen import Screen, make_screen
from ._strategy import Strategy, propose

__all__ = ["Deadline", "SearchResult", "search"]


@dataclass(frozen=True)
class Deadline:
    """A time budget (``run --time``): the search stops early enough that ``reserve`` more renders
    (the verify pass that follows it, each on a new synth instance: ``FRESH`` times a search render)
    and ``after`` seconds (drawing the report) still fit before ``at``, a ``time.perf_counter()``
    value. The render time is measured on the run's own recent renders, shared by ``workers``."""

    FRESH = 3.0  # a verify render over a search render: building the instance dominates (Vital: 0.42 s against 0.15 s)

    seconds: float
    at: float
    reserve: int = 0
    workers: int = 1
    after: float = 0.0

    @staticmethod
    def check(seconds: float) -> float:
        """``seconds`` if it is a positive, finite time limit; else a ConfigError."""
        if not 0 < seconds < float("inf"):
            raise ConfigError(f"--time must be a positive number of seconds, not {seconds}")
        return seconds

    @classmethod
    def start(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(cls.check(seconds), time.perf_counter() + seconds)

    def _per_render(self, archive: Archive) -> float:
        recent = archive.entries[-200:]  # the median: a worker's first render (Vital: 2.4 s, warming up) must not count as typical
        return float(np.median([e.render_s + e.score_s for e in recent])) / self.workers if recent else 0.0

    def _left(self, archive: Archive) -> float:
        """Seconds the search may still spend."""
        return self.at - time.perf_counter() - self.reserve * self.FRESH * self._per_render(archive) - self.after

    def reached(self, archive: Archive) -> bool:
        return self._left(archive) <= 0

    def budget(self, archive: Archive, cap: int) -> int:
        """The renders the time left still buys (at the rate so far), at most ``cap``: what the
        optimizers are told to plan for."""
        per = self._per_render(archive)
        return min(cap, len(archive) + max(int(self._left(archive) / per), 1)) if per > 0 else cap


@dataclass
class SearchResult:
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
    ng = nevergrad()

    for value, loss in zip(values, losses, strict=True):
        child = optimizer.parametrization.spawn_child(new_value=value)
        if hold is not None:
            hold(child)
        try:
            optimizer.tell(child, float(loss))
        except ng.errors.TellNotAskedNotSupportedError:
            return


ROUND = 8
DRAW = 1024  # proposals drawn (and ranked by a surrogate, when the proposer has one) at a time
# Renders' worth of a latent search decoded per flow call. On Dexed one sample takes 38 ms and twelve
# 60 ms, while 2 workers finish a render every 9 ms: with 4, the parent's decoding held Dexed's
# default search to 60% of its pool's rate. Asking 8 ahead changed no protocol search (results/README.md).
LATENT_GROUP = 8
SIGMA = 0.25  # the unit-space step scale of ParamSpace.to_nevergrad, before the optimizer's own scale


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


@dataclass
class _Seeds:
    """What the optimizers start from: rendered patches (unit vectors, clustered into modes), the
    points the optimizers search from (the same patches, or for a latent search the flow's noise
    each came from), their losses, and ``latent`` (a ``checkpoint.Latent``) for a latent search."""

    units: np.ndarray
    points: np.ndarray
    losses: np.ndarray
    latent: Any = None


def _modes(space: Any, strategy: Strategy, seeds: _Seeds, remaining: int, batch: int, rng: np.random.Generator) -> tuple[list[Any], list[float]]:
    """One optimizer per mode of the rendered seeds (k-means on the patches), each started at
    its mode's best seed point and told its mode's points; and each mode's best loss so far. Raced
    modes may each end up with the whole rest of the budget; shared ones get a slice."""
    opt = strategy.optimizer
    starts = [(seeds.points[best], members) for best, members in _starts(seeds.units, seeds.losses, opt.modes, rng)]
    while len(starts) < opt.modes:  # too few proposals: the centre (or the config's default), then fresh draws
        if seeds.latent is not None:
            fill = np.zeros(seeds.latent.dim) if not starts else rng.standard_normal(seeds.latent.dim)
        else:
            fill = space.default_unit() if not starts else space.sample(rng, 1)[0]
        starts.append((fill, np.zeros(0, dtype=int)))
    share = remaining if opt.race else max(remaining // len(starts), 1)
    optimizers = []
    for init, members in starts:
        if seeds.latent is None:
            param = space.to_nevergrad(seed=int(rng.integers(2**31)), init=init, sigma=SIGMA, hold=opt.hold)
            values = [space.nevergrad_value(u) for u in seeds.points[members]]
        else:  # ``latent`` is the step in the noise itself, so the optimizer's own ``scale`` is divided out
            param = _noise_param(init, opt.latent / float(opt.options.get("scale", 1.0)), int(rng.integers(2**31)))
            values = list(seeds.points[members])
        optimizer = make_optimizer(opt.name, param, budget=share, num_workers=batch, options=dict(opt.options))
        hold = None if opt.hold is None or seeds.latent is not None else (lambda child: space.hold_choices(child, opt.hold))
        _tell_proposals(optimizer, values, seeds.losses[members], hold)
        optimizers.append(optimizer)
    return optimizers, [float(seeds.losses[m].min()) if m.size else np.inf for _, m in starts]


def _noise_param(init: np.ndarray, sigma: float, seed: int) -> Any:
    ng = nevergrad()

    param = ng.p.Array(init=init).set_mutation(sigma=sigma)
    param.random_state.seed(seed)
    return param


def _render_proposals(job: RenderJob, strategy: Strategy, pool: RenderPool, archive: Archive, n: int, batch: int, rng: np.random.Generator,
                      options: dict[str, Any], on_batch: Callable[[Archive], None] | None, deadline: Deadline | None) -> _Seeds:
    """Renders ``n`` proposals into the archive; returns what the optimizers start from: for a
    patch-space search everything rendered so far (a resumed archive included), for a latent search
    this call's proposals with their noise."""
    space = job.spec.space
    fresh = len(archive)
    if strategy.optimizer.latent:  # the same samples as the proposer's, with the noise each one came from
        from ..ml.proposer import latent_proposals

        latent, noise, proposals = latent_proposals(space, job.alone(), n, rng, **options)
        _render(job, pool, archive, proposals, batch, f"proposal:{strategy.proposer.name}", on_batch, deadline)
        return _Seeds(proposals[: len(archive) - fresh], noise[: len(archive) - fresh], archive.losses[fresh:], latent)
    for start in range(0, n, DRAW):  # drawn in chunks, so a proposal-only search of any budget holds one chunk at a time
        if deadline is not None and deadline.reached(archive):
            break
        proposals = propose(strategy.proposer.name, space, min(DRAW, n - start), rng, job=job.alone(), **options)
        _render(job, pool, archive, proposals, batch, f"proposal:{strategy.proposer.name}", on_batch, deadline)
    seen = np.array([e.unit for e in archive.entries]).reshape(-1, space.dim)
    return _Seeds(seen, seen, archive.losses)


def _render(job: RenderJob, pool: RenderPool, archive: Archive, units: np.ndarray, batch: int, origin: str,
            on_batch: Callable[[Archive], None] | None, deadline: Deadline | None) -> None:
    for start in range(0, len(units), batch * 4):
        if deadline is not None and deadline.reached(archive):
            return
        archive.extend(pool.evaluate(job, units[start : start + batch * 4]), origin=origin)
        if on_batch:
            on_batch(archive)


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
    deadline: Deadline | None = None,
) -> SearchResult:
    """Spends ``budget`` renders on ``job`` (fewer if ``deadline`` comes first); every evaluation
    lands in ``archive`` as it arrives.

    A resumed archive's renders count against the budget and seed the optimizers alongside the new
    proposals. Ctrl-C stops the loop, keeping every candidate already scored; the result says so (``interrupted``)."""
    space = job.spec.space
    rng = np.random.default_rng(seed)
    # ROUND candidates in flight (more when there are more workers to keep busy), so a seed gives the
    # same search on 1, 2 or 8 workers: the window shapes what the optimizers ask.
    batch = batch or max(ROUND, pool.workers)
    t0 = time.perf_counter()
    try:
        left = max(budget - len(archive), 0)
        n = left if strategy.optimizer.name == "none" else min(strategy.proposer.n, left)
        seeds = _render_proposals(job, strategy, pool, archive, n, batch, rng, dict(strategy.proposer.options), on_batch, deadline)
        if deadline is not None:
            budget = deadline.budget(archive, budget)
        if strategy.optimizer.name != "none" and len(archive) < budget:
            optimizers, mode_best = _modes(space, strategy, seeds, budget - len(archive), batch, rng)
            _optimize(job, strategy, pool, archive, optimizers, _Race(len(optimizers), strategy.optimizer.race, mode_best), _screen(job, strategy, seeds.latent),
                      label=f"{strategy.optimizer.name}:latent" if seeds.latent is not None else strategy.optimizer.name,
                      budget=budget, batch=batch, on_batch=on_batch, deadline=deadline)
    except KeyboardInterrupt:
        return SearchResult(archive, True, time.perf_counter() - t0)
    return SearchResult(archive, False, time.perf_counter() - t0)


def _screen(job: RenderJob, strategy: Strategy, latent: Any) -> Screen:
    """What turns the optimizers' asks into renders: each candidate decoded into a patch (by the flow
    for a latent search, LATENT_GROUP renders' worth at a time), screened by the surrogate when the
    strategy asks for it."""
    space = job.spec.space
    if latent is None:
        def decode(cands: list[Any]) -> np.ndarray:
            return np.array([space.from_nevergrad(c.value) for c in cands])
    else:
        def decode(cands: list[Any]) -> np.ndarray:
            return latent.decode(np.array([c.value for c in cands]))  # type: ignore[no-any-return]
    return make_screen(strategy.optimizer.screen, job, strategy.surrogate, decode,
                       group=1 if latent is None else LATENT_GROUP)


def _optimize(job: RenderJob, strategy: Strategy, pool: RenderPool, archive: Archive, optimizers: list[Any], race: _Race, screen: Screen, *,
              label: str, budget: int, batch: int, on_batch: Callable[[Archive], None] | None, deadline: Deadline | None) -> None:
    """Asks and tells until the archive holds ``budget`` renders or the deadline nears.

    ``batch`` candidates are in flight at once; each time the oldest is told, the next one is asked,
    so the workers never wait for a round's slowest render. The asks and tells keep one fixed order
    (the stream returns results in the order they were asked), so a seed gives the same search on
    any number of workers. Told candidates reach the archive in that order, whenever the next score
    is not in yet (and at least every ``batch``), so a killed run loses only what is in flight."""
    flight: deque[tuple[int, Any]] = deque()
    told: list[tuple[int, Evaluation]] = []
    with pool.stream(job) as stream, _one_thread(), screen.told():
        try:
            while True:
                while len(flight) < batch and len(archive) + len(told) + len(flight) < budget and not _late(deadline, archive):
                    mode = race.next(1)[0]
                    cand, unit = screen.ask(optimizers[mode])
                    stream.submit(unit)
                    flight.append((mode, cand))
                if not flight:
                    return
                mode, cand = flight.popleft()
                ev = stream.next()
                optimizers[mode].tell(cand, ev.loss)
                race.tell(mode, ev.loss)
                told.append((mode, ev))
                if len(told) >= batch or not stream.ready():  # written while the next render is still out: no wait added
                    _keep(archive, told, label, on_batch)
        finally:
            _keep(archive, told, label, on_batch)  # a Ctrl-C keeps every candidate already scored


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The parent's BLAS, OpenMP and torch on one thread while the workers render. With a worker per
    core, a second thread in the parent only competes with them: pycma's eigendecompositions spun
    two OpenBLAS threads against the workers, and Dexed's search made 48 renders/s on 2 workers
    instead of 71-81 (results/README.md, "Where does a whole run's time go?"). The search is the
    same on any thread count."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")  # a latent search decodes in the parent; torch is loaded by then
    threads = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(threads)


def _late(deadline: Deadline | None, archive: Archive) -> bool:
    return deadline is not None and deadline.reached(archive)


def _keep(archive: Archive, told: list[tuple[int, Evaluation]], label: str, on_batch: Callable[[Archive], None] | None) -> None:
    """Appends ``told`` to the archive in order, each run of one mode under that mode's origin, and empties it."""
    if not told:
        return
    start = 0
    for end in range(1, len(told) + 1):
        if end == len(told) or told[end][0] != told[start][0]:
            archive.extend([ev for _, ev in told[start:end]], origin=f"{label}:{told[start][0]}")
            start = end
    told.clear()
    if on_batch:
        on_batch(archive)
