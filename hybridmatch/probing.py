"""Before the search: what a target is searched under, chosen by rendering probes.

A recording read both ways (``--notes auto`` found several notes: ``Target.single``) is first
settled as a phrase or one note (:func:`~hybridmatch.search.choose_reading`). Then a note or length
that was estimated, not given, may be replaced (:func:`~hybridmatch.search.refine_analysis`). Both
cost probe renders from the budget, and each is skipped when it would take over a quarter of it.
Every probe is kept in ``probes.jsonl`` under its hypothesis; the probes valid under the chosen job
go into the archive. The choices are written to ``analysis.json`` before anything is searched, and a
resumed run reuses them: its archive was rendered under them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._io import write_json
from .audio import Target
from .render import Evaluation, RenderJob, RenderPool
from .search import READING_COST, Archive, Strategy, choose_reading, refine_analysis, refine_cost

__all__ = ["choose_analysis"]


class _ProbeLog:
    """``probes.jsonl``, opened at the first probe (a run that probes nothing writes no file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive: Archive | None = None

    def __call__(self, job: RenderJob, evals: Sequence[Evaluation]) -> None:
        if self.archive is None:
            self.archive = Archive(self.path)
        origin = f"phrase of {len(job.phrase)} notes" if job.phrase else f"note {job.note}, held {job.duration:g} s"
        self.archive.extend(list(evals), origin=origin)

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def choose_analysis(target: Target, job: RenderJob, strategy: Strategy, pool: RenderPool, archive: Archive, out: Path, *,
                    budget: int, seed: int, refine: str, resume: bool) -> tuple[Target, RenderJob, dict[str, Any]]:
    """The target and job to search under and the ``analysis`` record of results.json (see the module doc)."""
    path = out / "analysis.json"
    if resume and len(archive):
        return _resumed(target, job, path)
    log = _ProbeLog(out / "probes.jsonl")
    try:
        target, job, analysis, valid = _read(target, job, strategy, pool, budget=budget, seed=seed, log=log)
        job, valid = _refine(target, job, strategy, pool, analysis, valid, budget=budget, seed=seed, refine=refine, log=log)
    finally:
        log.close()
    analysis["chosen"] = {"note": job.note, "duration": job.duration, **({"reading": analysis["reading"]["chosen"]} if "reading" in analysis else {})}
    write_json(path, {**analysis, "job": json.loads((out / "job.json").read_text())})  # before the archive gets renders made under it
    archive.extend(valid, origin=f"probe:{strategy.proposer.name}")
    return target, job, analysis


def _resumed(target: Target, job: RenderJob, path: Path) -> tuple[Target, RenderJob, dict[str, Any]]:
    if not path.exists():
        return target, job, {"refined": False, "reason": "resumed an archive searched under this analysis"}
    saved = json.loads(path.read_text())
    saved.pop("job", None)  # results.json has it at the top
    chosen = saved["chosen"]
    if target.single is not None and chosen.get("reading") == "one note":
        target = target.single
        job = RenderJob.of(job.spec, target, job.weights)
    return target, replace(job, note=int(chosen["note"]), duration=float(chosen["duration"])), saved


def _read(target: Target, job: RenderJob, strategy: Strategy, pool: RenderPool, *, budget: int, seed: int,
          log: _ProbeLog) -> tuple[Target, RenderJob, dict[str, Any], list[Evaluation]]:
    """Phrase or one note, for a target read both ways: the chosen target and job, the analysis so
    far, and the probes valid under the job."""
    if target.single is None:
        return target, job, {}, []
    if budget < 4 * READING_COST:
        reason = f"budget {budget} < {4 * READING_COST} (4 x the {READING_COST} probe renders); kept as transcribed"
        return target, job, {"reading": {"chosen": "phrase", "reason": reason}}, []
    single = RenderJob.of(job.spec, target.single, job.weights)
    found = choose_reading(job, single, strategy, pool, seed=seed, on_trial=log)
    kept, other = ("phrase", "one note") if found.phrase else ("one note", "phrase")
    analysis = {"reading": found.summary(), "spent": len(found.trials[other])}
    return (target if found.phrase else target.single), found.job, analysis, found.trials[kept]


def _refine(target: Target, job: RenderJob, strategy: Strategy, pool: RenderPool, analysis: dict[str, Any], valid: list[Evaluation], *,
            budget: int, seed: int, refine: str, log: _ProbeLog) -> tuple[RenderJob, list[Evaluation]]:
    """Replaces an estimated note or length when a probed one scores better; fills in ``analysis``.
    Returns the job and the probes valid under it (``valid``: those of ``job`` already rendered)."""
    note_free = "note" in refine and target.note_source != "given" and not target.phrase
    duration_free = "length" in refine and target.duration_source != "given" and not target.phrase
    cost = refine_cost(note_free, duration_free)
    if target.phrase:
        analysis.update(refined=False, reason="a phrase: its notes are given or transcribed, not probed")
    elif not cost:
        analysis.update(refined=False, reason="off (--refine off)" if refine == "off" else f"{refine} given")
    elif 4 * cost > budget:
        analysis.update(refined=False, reason=f"budget {budget} < {4 * cost} (4 x the {cost} probe renders)")
    else:
        found = refine_analysis(job, strategy, pool, seed=seed, note_free=note_free, duration_free=duration_free, on_trial=log,
                                first=valid or None)
        summary = found.summary((job.note, job.duration))
        for key in ("spent", "renders"):  # with the other reading's probes
            summary[key] += analysis.get("spent", 0)
        analysis.update(refined=True, note_free=note_free, duration_free=duration_free, **summary)
        return found.job, list(found.valid)
    return job, valid
