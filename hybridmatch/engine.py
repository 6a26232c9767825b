"""Matching one target: analysis, search, the verified returned set, and the output folder.

Example
-------
>>> import tempfile
>>> from hybridmatch.audio import analyse
>>> from hybridmatch.render import RenderPool
>>> from hybridmatch.sampling import sample_patch
>>> from hybridmatch.search import OptimizerSpec, Strategy
>>> from hybridmatch.space import ParamSpace
>>> from hybridmatch.synths import SynthSpec
>>> space = ParamSpace.from_dict({"param": [{"name": "osc1_freq", "kind": "continuous", "low": 100.0,
...     "high": 1000.0, "scale": "log"}, {"name": "osc1_amp", "kind": "continuous"}]})
>>> spec = SynthSpec("toy", space)
>>> audio, values = sample_patch(spec, seed=1, note=60, duration=0.3, seconds=0.4)
>>> target = analyse(audio, spec.sample_rate, note=60, duration=0.3)
>>> with RenderPool(1, backend="sequential") as pool:
...     res = run_match(target, spec, Strategy("random", OptimizerSpec("random")), pool=pool, budget=8, out_dir=tempfile.mkdtemp())
>>> res["renders"], len(res["candidates"]) >= 1
(8, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write, write_json, write_wav
from .audio import Target
from .errors import ConfigError, Interrupted
from .identity import claim, job_identity
from .objectives import PARETO_KEYS
from .phrase import write_midi
from .probing import choose_analysis
from .render import RenderJob, RenderPool
from .search import (
    Archive,
    Deadline,
    SearchResult,
    Strategy,
    near_best,
    pareto_ranks,
    recipe_diff,
    search,
    select_recipes,
)
from .synths import SynthSpec, export_bank

__all__ = ["REFINE", "default_budget", "report_or_skip", "run_match"]

DEFAULT_BUDGET = 500
REPORT_S = 2.5  # seconds kept for drawing report.html in a time-bounded match (9 spectrograms and a scatter)
TIME_CAP = 1_000_000  # the renders a time-bounded match may make when no budget is given: in effect, none
REFINE = ("length", "note+length", "note", "off")  # what run may re-choose by rendering probes (see run_match; the CLI's --refine)


@dataclass
class _Returned:
    """The returned set: archive indices in rank order, each one's fresh render (evaluation, audio,
    preset), and how many shortlisted patches were rendered again to choose them."""

    chosen: list[int]
    checked: dict[int, Any]
    shortlisted: int


def run_match(
    target: Target,
    spec: SynthSpec,
    strategy: Strategy,
    *,
    pool: RenderPool,
    out_dir: str | Path,
    budget: int = 500,
    keep: int = 8,
    seed: int = 0,
    on_progress: Callable[[Archive], None] | None = None,
    force: bool = False,
    report: bool = True,
    reference: Mapping[str, Any] | None = None,
    refine: str = "length",
    on_written: Callable[[dict[str, Any]], None] | None = None,
    deadline: Deadline | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Matches ``target`` on ``pool`` into ``out_dir`` (presets, renders, ``results.json``,
    ``report.html``); returns the ``results.json`` content.

    ``archive.jsonl`` is appended during the search; every other file is written atomically at the
    end, also after Ctrl-C. ``on_progress`` gets the archive after every batch of renders. A folder
    holding this same job (``job.json``, :mod:`hybridmatch.identity`) is continued, its renders
    counted; one holding another job is refused, or cleared first with ``force``. ``reference`` (the
    known answer's native params) is scored as ``results["reference"]``. ``refine`` (one of ``REFINE``)
    lets probe renders replace an estimated length or note. ``on_written`` gets the written results.
    ``deadline`` (``run --time``) ends the search in time for the verify pass, within ``budget``.
    ``started`` (``time.time()`` before the target was analysed) dates results.json's ``timings``."""
    _check_options(budget, keep, refine)
    strategy.check(spec.space)  # e.g. a missing checkpoint or a bad optimizer option fails here, before anything is written
    out = Path(out_dir)
    identity = job_identity(target, spec, strategy, seed=seed, budget=budget, refine=refine, time_limit=deadline.seconds if deadline else None)
    resume = claim(out, identity, force=force)
    job = RenderJob.of(spec, target, strategy.weights)
    stamps = {"started": started if started is not None else time.time(), "run": time.time()}
    with Archive(out / "archive.jsonl", append=resume) as archive:
        target, job, analysis, interrupted = _analyse_and_search(target, job, strategy, pool, archive, out, budget=budget, seed=seed,
                                                                 refine=refine, resume=resume, on_progress=on_progress,
                                                                 deadline=_for_search(deadline, keep, pool.workers), stamps=stamps)
    returned, ref_scores, stopped, skipped = _verify_and_reference(job, pool, archive, keep, reference)
    stamps["verified"] = time.time()
    wall_s = stamps["searched"] - stamps["run"]  # probing and search; not the final renders of the returned set
    results = {**_summary(target, job, strategy, archive, analysis, budget=budget, seed=seed, wall_s=wall_s, interrupted=interrupted or stopped),
               "verified": returned.shortlisted,  # the shortlist rendered again (on new instances) to rank the set; not in the budget
               **_write_returned(out, target, spec, archive, returned), "skipped": skipped, "job": identity,
               **({"reference": ref_scores} if ref_scores is not None else {}), "timings": _timings(stamps, pool.first_render_at)}
    write_json(out / "results.json", results)
    if on_written is not None:
        on_written(results)
    if stopped:
        raise Interrupted(f"interrupted; {out / 'results.json'} has the search's best set without presets ({'; '.join(skipped)})")
    if report:
        clips = {"target": target.audio, **{f"{r:02d}": returned.checked[i][1] for r, i in enumerate(returned.chosen, start=1)}}
        report_or_skip(out, results, archive=archive, audio=clips, sample_rate=spec.sample_rate)
    if interrupted:
        raise Interrupted(f"interrupted; the best set found so far was written to {out}")
    return results


def _timings(stamps: dict[str, float], first_render_at: float | None) -> dict[str, Any]:
    """Seconds per phase of a match: analysing the target (before ``run_match``), the probes that
    choose the note and length, the search, the verify pass with the known answer, writing the files;
    and when the first render began, from the start. ``started_at`` lets a benchmark add the imports."""
    now, probed = time.time(), stamps["probed"]
    return {"started_at": round(stamps["started"], 3), "analysis_s": round(stamps["run"] - stamps["started"], 3),
            "probes_s": round(probed - stamps["run"], 3), "search_s": round(stamps["searched"] - probed, 3),
            "verify_s": round(stamps["verified"] - stamps["searched"], 3), "write_s": round(now - stamps["verified"], 3),
            "first_render_s": round(first_render_at - stamps["started"], 3) if first_render_at is not None else None}


def _for_search(deadline: Deadline | None, keep: int, workers: int) -> Deadline | None:
    """The deadline the search works to: room left for the verify renders, the known answer and the report."""
    return replace(deadline, reserve=keep + 1, workers=workers, after=REPORT_S) if deadline is not None else None


def report_or_skip(out: Path, results: dict[str, Any], **drawn: Any) -> None:
    """Draws ``report.html`` (see :func:`hybridmatch.report.write_report`). The result is already
    written: a report that fails or is interrupted is recorded in ``results.json`` as skipped."""
    from .report import write_report

    try:
        write_report(out, results=results, **drawn)
    except (Exception, KeyboardInterrupt) as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        results["skipped"] = [*results.get("skipped", []), f"report: {why}"]
        write_json(out / "results.json", results)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"interrupted while drawing the report; {out / 'results.json'} is complete") from None


def default_budget(budget: int | None, seconds: float | None) -> int:
    """The render budget a match runs under: the one given; else 500, or no cap with a time limit
    (which must be a positive number of seconds)."""
    if seconds is not None:
        Deadline.check(seconds)
    return budget if budget is not None else (TIME_CAP if seconds is not None else DEFAULT_BUDGET)


def _check_options(budget: int, keep: int, refine: str) -> None:
    if budget < 1:
        raise ConfigError("--budget must be at least 1")
    if refine not in REFINE:
        raise ConfigError(f"--refine must be one of {', '.join(REFINE)}, not {refine!r}")
    if keep < 1:
        raise ConfigError("--keep must be at least 1")


def _analyse_and_search(target: Target, job: RenderJob, strategy: Strategy, pool: RenderPool, archive: Archive, out: Path, *, budget: int,
                        seed: int, refine: str, resume: bool, on_progress: Callable[[Archive], None] | None,
                        deadline: Deadline | None, stamps: dict[str, float]) -> tuple[Target, RenderJob, dict[str, Any], bool]:
    """The target and job searched under (:func:`~hybridmatch.probing.choose_analysis`), the
    ``analysis`` record, and whether Ctrl-C stopped the search; ``stamps`` gets the times the probes
    and the search ended."""
    pool.first_render_at = None  # this match's first render (a batch shares its pool between targets)
    try:
        target, job, analysis = choose_analysis(target, job, strategy, pool, archive, out, budget=budget, seed=seed, refine=refine, resume=resume)
    except KeyboardInterrupt:  # stopped while probing: write what there is (nothing is searched)
        stamps["probed"] = stamps["searched"] = time.time()
        return target, job, {"refined": False, "reason": "interrupted while probing"}, True
    stamps["probed"] = time.time()
    result: SearchResult = search(job, strategy, pool, archive, budget=budget - analysis.get("spent", 0), seed=seed, on_batch=on_progress,
                                  deadline=deadline)
    stamps["searched"] = time.time()
    return target, job, analysis, result.interrupted


def _verify_and_reference(job: RenderJob, pool: RenderPool, archive: Archive, keep: int,
                          reference: Mapping[str, Any] | None) -> tuple[_Returned, dict[str, Any] | None, bool, list[str]]:
    """The returned set (see :func:`_verify`), the known answer's scores on a new instance (None when
    not given or not rendered), whether Ctrl-C stopped them, and what was skipped. A crashed or hung render comes back
    failed (the pool names it), so only Ctrl-C stops this phase: the set is then ranked by the
    search's own scores, with no presets or renders."""
    skipped: list[str] = []
    try:
        returned = _verify(job, pool, archive, keep)
    except KeyboardInterrupt:
        skipped += ["verify: interrupted (the set is ranked by the search's scores; no presets or renders were written)",
                    *(["reference: interrupted"] if reference is not None else [])]
        return _Returned(select_recipes(archive.entries, job.spec.space, keep=keep), {}, 0), None, True, skipped
    failures = sum(1 for i in returned.checked if returned.checked[i][0].error is not None)
    if failures:
        skipped.append(f"verify: {failures} of {returned.shortlisted} shortlisted patches failed to render again and were left out")
    if reference is None:
        return returned, None, False, skipped
    try:
        ((known, _, _),) = pool.verify(job, job.spec.space.to_unit(reference)[None])
    except KeyboardInterrupt:
        skipped.append("reference: interrupted")
        return returned, None, True, skipped
    if known.error is not None:
        skipped.append("reference: the known answer's render failed")
        return returned, None, False, skipped
    return returned, _scores(known.objectives), False, skipped


def _verify(job: RenderJob, pool: RenderPool, archive: Archive, keep: int) -> _Returned:
    """The returned recipes, ranked by fresh renders: the best ``keep`` recipes by the search's
    scores are rendered again, each on a new instance, and ranked by those scores (a recipe whose
    fresh render sounds like a better one's is left out). That is the sound each preset makes as
    loaded, since Vital's search renders carry voice state. A longer shortlist changed no run's best
    patch (results/README.md, "How many fresh renders does the returned set need?"). On an exact
    synth this is the set chosen from the search scores."""
    space = job.spec.space
    shortlist = select_recipes(archive.entries, space, keep=keep)
    units = np.array([archive.entries[i].unit for i in shortlist]).reshape(-1, space.dim)
    checked = dict(zip(shortlist, pool.verify(job, units), strict=True)) if shortlist else {}
    verified = [checked[i][0] if i in checked else e for i, e in enumerate(archive.entries)]
    return _Returned(select_recipes(verified, space, keep=keep, among=shortlist), checked, len(shortlist))


def _scores(verified: Mapping[str, float]) -> dict[str, Any]:
    """A fresh render's objectives (:func:`~hybridmatch.worker.verify_units`) as results.json reports them."""
    return {"objectives": {k: verified[k] for k in PARETO_KEYS}, "rms_cosine": 1.0 - verified["rms"], "mfccd": verified["mfccd"]}


def _write_returned(out: Path, target: Target, spec: SynthSpec, archive: Archive, returned: _Returned) -> dict[str, Any]:
    """Writes each returned recipe's preset and render (and a bank of them all, and a phrase's
    ``notes.mid``); their results rows, each with its Pareto front among the recipes, and how many
    recipes came back and how many are within ``NEAR_BEST`` of the first one's MSS (``near_best``)."""
    write_wav(out / "renders" / "target.wav", target.audio, spec.sample_rate)
    if target.phrase:
        write_midi(target.phrase, out / "notes.mid")
    candidates: list[dict[str, Any]] = []
    for rank, i in enumerate(returned.chosen, start=1):
        entry = archive.entries[i]
        row = {"rank": rank, "search_loss": entry.loss, "archive_index": i, "origin": archive.origins[i], "params": spec.space.to_native(entry.unit)}
        if i not in returned.checked:  # not rendered again (verify was stopped): the search's scores, no files
            candidates.append({**row, "preset": None, "audio": None, "objectives": {k: entry.objectives[k] for k in PARETO_KEYS},
                               "rms_cosine": 1.0 - entry.objectives["rms"], "loss": entry.loss})
            continue
        evaluation, audio, preset = returned.checked[i]
        preset_path = atomic_write(out / "presets" / f"{rank:02d}{spec.preset_ext}", preset)
        wav_path = write_wav(out / "renders" / f"{rank:02d}.wav", audio, spec.sample_rate)
        candidates.append({**row, "preset": str(preset_path.relative_to(out)), "audio": str(wav_path.relative_to(out)),
                           **_scores(evaluation.objectives), "loss": evaluation.loss})
    _describe_recipes(spec, archive, returned.chosen, candidates)
    bank = None
    if len(candidates) > 1 and all(c["preset"] is not None for c in candidates):
        bank = export_bank(spec, [c["params"] for c in candidates], out / "presets" / f"bank{spec.preset_ext}")
    _remove_others(out, {"renders/target.wav", *(c[k] for c in candidates for k in ("preset", "audio") if c[k]),
                         *([str(bank.relative_to(out))] if bank is not None else [])})
    near = near_best([c["objectives"]["mss"] for c in candidates])
    return {"recipes": len(candidates), "near_best": near, "bank": str(bank.relative_to(out)) if bank is not None else None, "candidates": candidates}


def _describe_recipes(spec: SynthSpec, archive: Archive, chosen: list[int], candidates: list[dict[str, Any]]) -> None:
    """Adds to each recipe its Pareto front among the recipes (0: no other recipe is at least as good
    on every objective) and, after the first, what makes it different from #1 (``recipe_diff``)."""
    scores = np.array([[c["objectives"][k] for k in PARETO_KEYS] for c in candidates]).reshape(len(candidates), len(PARETO_KEYS))
    for row, front in zip(candidates, pareto_ranks(scores), strict=True):
        row["pareto_front"] = int(front)
    for i, row in zip(chosen[1:], candidates[1:], strict=True):
        row["differs"] = recipe_diff(spec.space, archive.entries[i].unit, archive.entries[chosen[0]].unit)


def _remove_others(out: Path, written: set[str]) -> None:
    """Deletes files in ``presets/`` and ``renders/`` that this run did not write (a longer set before)."""
    for folder in ("presets", "renders"):
        for path in (out / folder).glob("*"):
            if path.is_file() and str(path.relative_to(out)) not in written:
                path.unlink()


def _summary(target: Target, job: RenderJob, strategy: Strategy, archive: Archive, analysis: dict[str, Any], *, budget: int, seed: int,
             wall_s: float, interrupted: bool) -> dict[str, Any]:
    """What was matched, how, and at what cost: the head of ``results.json``."""
    spec = job.spec
    return {
        "target": target.name,
        "synth": spec.backend,
        "config": spec.space.name,
        "strategy": strategy.name,
        "budget": budget,
        "renders": len(archive) + analysis.get("spent", 0),
        "wall_s": round(wall_s, 3),
        "seed": seed,
        "note": job.note,
        "note_source": "refined" if analysis.get("note_free") else target.note_source,
        "duration": round(job.duration, 4),
        "duration_source": "refined" if analysis.get("duration_free") else target.duration_source,
        "seconds": round(target.seconds, 4),
        "interrupted": interrupted,
        "failed_renders": sum(e.error is not None for e in archive.entries),
        "analysis": analysis,
        **({"phrase": _phrase_record(target, job, len(archive))} if target.phrase else {}),
    }


def _phrase_record(target: Target, job: RenderJob, candidates: int) -> dict[str, Any]:
    """A phrase's notes, where they came from, the MIDI file they were written to and the synth
    renders its candidates took (the budget counts candidates; each plays every distinct note once)."""
    return {"source": target.note_source, "midi": "notes.mid", "renders_each": job.renders_each,
            "synth_renders": job.renders_each * candidates,
            "notes": [{"onset": round(n.onset, 4), "pitch": n.pitch, "duration": round(n.duration, 4), "velocity": n.velocity}
                      for n in target.phrase]}
