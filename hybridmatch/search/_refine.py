"""Analysis by synthesis: choose the note and note length to render at by rendering a few probes.

pYIN and the envelope knee misread synth sounds often enough to cap a match: an FM patch whose
carrier runs at twice the note reads an octave up, a slow attack or a long release moves the knee
(results/journal.md). Searching the patch under a wrong length or octave leaves a floor no
patch can go below. So before the search, when the note or the length was estimated, a few probe
patches are rendered under each of a handful of hypotheses (the note an octave either way; the
length scaled by ``LENGTHS``), and the hypothesis whose best probe scores lowest is kept.

Each hypothesis gets its own probes from the strategy's proposer, conditioned on that hypothesis
(a flow proposes the patch that would sound like the target if held that long), drawn with the same
random numbers for every hypothesis so that only the hypothesis differs. Probes chosen as the best
under the estimate and re-rendered under the others would be biased toward the estimate: their
envelopes were fitted to it. Hypotheses are tried coordinate-wise, the note first, so the cost is
linear in their number. Every render counts against the budget; the probes of the chosen hypothesis
go into the archive, and the rest are reported as ``spent``.

A recording the transcription found several notes in (``run --notes auto``) is first read both ways,
as a phrase and as one note, by the same kind of probes (:func:`choose_reading`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..render import Evaluation, RenderJob, RenderPool
from ._strategy import Strategy, propose

__all__ = ["Refinement", "Reading", "choose_reading", "refine_analysis", "LENGTHS", "refine_cost", "READING_COST"]

LENGTHS = (0.7, 0.85, 1.2)  # held length x factor; estimates were off by 0.68-1.09 on HMSynth targets
NOTE_STEPS = (-12, 12)
PROBES = 6  # probe patches per hypothesis
MARGIN = 0.05  # a hypothesis must beat the current one's best probe by 5%: between near-equal ones, keep the estimate


@dataclass
class Refinement:
    """The chosen job, the probe renders valid under it (for the archive), the renders spent on
    other hypotheses, and one row per hypothesis tried (note, duration, best probe loss)."""

    job: RenderJob
    valid: list[Evaluation]
    spent: int
    table: list[dict[str, Any]] = field(default_factory=list)

    def summary(self, estimated: tuple[int, float]) -> dict[str, Any]:
        return {
            "estimated": {"note": estimated[0], "duration": round(estimated[1], 4)},
            "renders": self.spent + len(self.valid),
            "spent": self.spent,
            "hypotheses": self.table,
        }


@dataclass
class Reading:
    """Phrase or one note: the chosen job, the probes of each reading (one note first) and the
    record of the choice."""

    job: RenderJob
    phrase: bool
    trials: dict[str, list[Evaluation]]

    def summary(self) -> dict[str, Any]:
        return {"chosen": "phrase" if self.phrase else "one note", **{f"{k} best_loss": round(_best(v), 5) for k, v in self.trials.items()}}


READING_COST = 2 * PROBES  # renders (candidates) that choose_reading takes


def choose_reading(phrase: RenderJob, single: RenderJob, strategy: Strategy, pool: RenderPool, *, seed: int,
                   on_trial: Callable[[RenderJob, list[Evaluation]], None] | None = None) -> Reading:
    """Whether a recording the transcription found several notes in is a phrase or one note.

    Both readings get PROBES probes from the strategy's proposer, with the same random numbers (a
    phrase's proposals are conditioned on its clearest note alone), each rendered as that reading
    plays it and scored against that reading's target. The phrase is kept only when its best probe
    scores ``MARGIN`` lower: a single note whose pitch envelope, LFO or echo the transcription cut
    into several notes is matched best by a patch holding one note, and between near-equal
    readings the cheaper one (one render a candidate) is the better default. (Rendering both
    readings' probes under each reading, 24 candidates, read fewer phrases right on the development
    files: results/transcription/detection.md.)"""
    trials = {}
    for name, job in (("one note", single), ("phrase", phrase)):
        trials[name] = pool.evaluate(job, _probes(job, strategy, seed))
        if on_trial:
            on_trial(job, trials[name])
    many = _best(trials["phrase"]) < _best(trials["one note"]) * (1 - MARGIN)
    return Reading(phrase if many else single, many, trials)


def refine_cost(note_free: bool, duration_free: bool) -> int:
    """Renders the refinement takes: PROBES per hypothesis, the estimate included."""
    others = (len(NOTE_STEPS) if note_free else 0) + (len(LENGTHS) if duration_free else 0)
    return PROBES * (1 + others) if others else 0


def _best(evals: list[Evaluation]) -> float:
    losses = [e.loss for e in evals if e.error is None and np.isfinite(e.loss)]
    return min(losses) if losses else float("inf")


def _probes(job: RenderJob, strategy: Strategy, seed: int) -> np.ndarray:
    """PROBES candidates for ``job`` from the strategy's proposer, topped up with prior samples; the
    same random numbers for every hypothesis (the flow's noise, the prior's samples)."""
    space = job.spec.space
    rng = np.random.default_rng([seed, 0x5EED])
    units = propose(strategy.proposer.name, space, PROBES, rng, job=job.alone(), **dict(strategy.proposer.options))[:PROBES]
    if len(units) < PROBES:
        units = np.concatenate([units, space.sample(np.random.default_rng([seed, 0x5EED, 1]), PROBES - len(units))])
    return units


def refine_analysis(
    job: RenderJob,
    strategy: Strategy,
    pool: RenderPool,
    *,
    seed: int,
    note_free: bool,
    duration_free: bool,
    on_trial: Callable[[RenderJob, list[Evaluation]], None] | None = None,
    first: list[Evaluation] | None = None,
) -> Refinement:
    """Chooses the note (``note_free``) and length (``duration_free``) for ``job``; see the module doc.

    A hypothesis replaces the current one only when its best probe scores ``MARGIN`` lower: on a
    sound whose length hardly matters (a long release the probes fit either way) the losses differ
    by noise, and the estimate is the better prior.
    Deterministic for a given ``seed``. ``on_trial(job, evaluations)`` sees every hypothesis's
    probes as they are scored (``run`` keeps them in ``probes.jsonl``). ``first``: the probes of
    ``job`` itself, when :func:`choose_reading` rendered them already (with this ``seed``)."""
    best_job = job
    best_evals = first if first is not None else pool.evaluate(job, _probes(job, strategy, seed))
    if on_trial and first is None:
        on_trial(job, best_evals)
    best = _best(best_evals)
    table = [{"note": job.note, "duration": round(job.duration, 4), "best_loss": round(best, 5)}]
    rendered = len(best_evals)
    axes: list[list[RenderJob] | None] = []
    if note_free:
        axes.append([replace(job, note=job.note + step) for step in NOTE_STEPS if 0 <= job.note + step <= 127])
    if duration_free:
        axes.append(None)  # the length axis, built around the note chosen by then
    for axis in axes:
        if axis is None:
            lengths = sorted({_length(best_job.duration * f, job.seconds) for f in LENGTHS} - {best_job.duration})
            axis = [replace(best_job, duration=d) for d in lengths]
        for cand in axis:
            trial = pool.evaluate(cand, _probes(cand, strategy, seed))
            if on_trial:
                on_trial(cand, trial)
            rendered += len(trial)
            loss = _best(trial)
            table.append({"note": cand.note, "duration": round(cand.duration, 4), "best_loss": round(loss, 5)})
            if loss < best * (1 - MARGIN):
                best_job, best_evals, best = cand, trial, loss
    return Refinement(best_job, list(best_evals), rendered - len(best_evals), table)


def _length(seconds: float, total: float) -> float:
    """A held length, rounded to 10 ms, within [50 ms, the target's length]."""
    return float(min(max(round(seconds, 2), 0.05), total))
