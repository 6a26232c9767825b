"""The engine behind ``hybridmatch run``: target → search → Pareto set → presets, renders, results.json.

Example
-------
>>> import tempfile
>>> from hybridmatch.space import ParamSpace
>>> from hybridmatch.synths import SynthSpec
>>> from hybridmatch.search import Strategy
>>> space = ParamSpace.from_dict({"param": [{"name": "osc1_freq", "kind": "continuous", "low": 100.0,
...     "high": 1000.0, "scale": "log"}, {"name": "osc1_amp", "kind": "continuous"}]})
>>> spec = SynthSpec("toy", space)
>>> audio, values = sample_patch(spec, seed=1, note=60, duration=0.3, seconds=0.4)
>>> target = analyse(audio, spec.sample_rate, note=60, duration=0.3)
>>> out = tempfile.mkdtemp()
>>> res = run_match(target, spec, Strategy("random", "random"), budget=8, seed=0, out_dir=out, quiet=True)
>>> res["renders"], len(res["candidates"]) >= 1
(8, True)
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .audio import Target, analyse
from .errors import ConfigError
from .objectives import PARETO_KEYS, TargetFeatures, score
from .render import RenderJob, RenderPool
from .search import Archive, MatchResult, Strategy, refine_analysis, refine_cost, search, select_diverse
from .space import ParamSpace, read_config
from .synths import SynthSpec, export_bank

__all__ = ["REFINE", "load_synth", "run_match", "known_answer", "sample_patch", "save_sample", "atomic_write", "write_wav", "Progress", "progress_display"]


PATH_OPTIONS = ("plugin", "preset")  # config options that name files; relative ones are relative to the config
VERIFY = 3  # run re-renders VERIFY x keep shortlisted patches fresh and returns the best-scored diverse set of them
REFINE = ("length", "note+length", "note", "off")  # what run may re-choose by rendering probes (see run_match; the CLI's --refine)


def load_synth(path: str | Path, *, sample_rate: int = 44100, backend: str | None = None, text: str | None = None,
               options: Mapping[str, Any] | None = None) -> SynthSpec:
    """A :class:`SynthSpec` from a synth config TOML (its ``synth`` key names the backend).

    ``text`` gives the TOML directly (``path`` then only names it); ``options`` override the config's
    ``[options]`` (e.g. the plugin path from ``--synth vst3:PATH``)."""
    path = Path(path)
    raw = read_config(path, text)
    name = backend or raw.get("synth")
    if not name:
        raise ConfigError(f"{path}: no 'synth' key naming the backend")
    space = ParamSpace.from_dict(raw, name=raw.get("name", path.stem))
    opts = dict(raw.get("options", {}))
    for key in PATH_OPTIONS:
        if isinstance(opts.get(key), str) and not Path(opts[key]).is_absolute():
            opts[key] = str((path.parent / opts[key]).resolve())
    opts.update(options or {})
    spec = SynthSpec(str(name), space, sample_rate, opts, dict(raw.get("render", {})))
    spec.validate()
    return spec


def known_answer(target: str | Path, spec: SynthSpec) -> dict[str, Any] | None:
    """The true params of a target written by ``hybridmatch sample`` (``<stem>.json`` next to it) for
    this synth and config, or None."""
    try:
        meta = json.loads(Path(target).with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("synth") != spec.backend or meta.get("config") != spec.space.name:
        return None
    params = meta.get("params")
    return params if isinstance(params, dict) and set(params) == set(spec.space.names) else None


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Writes ``data`` to a temporary file next to ``path`` and renames it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32).T, sample_rate, format="WAV", subtype="FLOAT")
    return atomic_write(path, buf.getvalue())


def sample_patch(
    spec: SynthSpec, *, seed: int, note: int, duration: float, seconds: float, min_peak_db: float = -40.0, tries: int = 100
) -> tuple[np.ndarray, dict[str, Any]]:
    """Renders a random patch from the config's priors, redrawing near-silent ones.

    Returns ``(audio (channels, n), native values)``."""
    synth = spec.build()
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        unit = spec.space.sample(rng, 1)[0]
        values = spec.space.to_native(unit)
        audio = synth.render(values, note=note, duration=duration, seconds=seconds)
        peak = float(np.abs(audio).max())
        if np.all(np.isfinite(audio)) and peak > 10 ** (min_peak_db / 20):
            return audio, values
    raise ConfigError(f"no audible patch in {tries} draws from the priors of {spec.space.name}")


def noise_floor(spec: SynthSpec, synth: Any, values: dict[str, Any], audio: np.ndarray, *, note: int, duration: float, seconds: float) -> dict[str, float]:
    """The objectives between ``audio`` and the same patch rendered again on ``synth`` after five
    other prior patches (as a search worker would): what a perfect match can score."""
    rng = np.random.default_rng(0)
    for unit in spec.space.sample(rng, 5):
        synth.render(spec.space.to_native(unit), note=note, duration=duration, seconds=seconds)
    again = synth.render(values, note=note, duration=duration, seconds=seconds)
    return {k: round(v, 5) for k, v in score(TargetFeatures(audio, spec.sample_rate), again).items()}


def save_sample(spec: SynthSpec, *, seed: int, note: int, duration: float, seconds: float, out: str | Path) -> list[Path]:
    """Writes a prior-sampled patch's render (``out``), its native preset and ``<stem>.json``
    (synth, config, seed, note, duration, params) so that the target's true answer is known."""
    audio, values = sample_patch(spec, seed=seed, note=note, duration=duration, seconds=seconds)
    out = Path(out)
    wav = write_wav(out, audio, spec.sample_rate)
    import tempfile

    synth = spec.build()
    with tempfile.TemporaryDirectory() as tmp:
        preset = synth.export(values, Path(tmp) / f"p{spec.preset_ext}").read_bytes()
    preset_path = atomic_write(out.with_suffix(spec.preset_ext if spec.preset_ext != ".json" else ".preset.json"), preset)
    meta = {"synth": spec.backend, "config": spec.space.name, "seed": seed, "note": note, "duration": duration,
            "seconds": seconds, "params": values, "noise_floor": noise_floor(spec, synth, values, audio, note=note, duration=duration, seconds=seconds)}
    meta_path = atomic_write(out.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    return [wav, preset_path, meta_path]


def progress_display() -> Any:
    """A rich progress display on stderr, or None when stderr is not a terminal (logs, CI, pipes)."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    return RichProgress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


class Progress:
    """One progress bar (done/total, a status line, elapsed and remaining time). Silent with
    ``quiet``. When stderr is not a terminal (a log file, CI, a pipe) it writes a plain line at most
    every ``LOG_EVERY`` seconds instead, and a last one on close, so short runs print nothing and
    long ones leave a readable trace. ``display`` shares one rich display between bars (batch: one
    bar per file under the overall one); the bar is removed from it on close."""

    LOG_EVERY = 30.0

    def __init__(self, total: int, *, quiet: bool, label: str = "matching", display: Any = None) -> None:
        self._t0 = self._logged = time.perf_counter()
        self._total, self._label = total, label
        self._own = display is None
        self._bar: Any = None if quiet else (display if display is not None else progress_display())
        self._log = not quiet and self._bar is None
        self._last: tuple[int, str] | None = None
        self._wrote = False
        if self._bar is not None:
            if self._own:
                self._bar.start()
            self._task = self._bar.add_task(label, total=total, info="")

    def update(self, done: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, info=info)
        elif self._log:
            self._last = (done, info)
            if time.perf_counter() - self._logged >= self.LOG_EVERY:
                self._write(done, info)

    def _write(self, done: int, info: str) -> None:
        now = time.perf_counter()
        print(f"{self._label}: {done}/{self._total} {info} ({now - self._t0:.0f} s)", file=sys.stderr, flush=True)
        self._logged, self._wrote = now, True

    def __call__(self, archive: Archive) -> None:
        if not len(archive):
            return
        best = archive.best()
        rate = len(archive) / max(time.perf_counter() - self._t0, 1e-9)
        self.update(len(archive), f"loss {best.loss:.3f} mss {best.objectives['mss']:.2f} wmfcc {best.objectives['wmfcc']:.1f} | {rate:.1f} renders/s")

    def close(self) -> None:
        if self._log and self._wrote and self._last is not None:
            self._write(*self._last)
            self._log = False
        if self._bar is None:
            return
        if self._own:
            self._bar.stop()
        else:
            self._bar.remove_task(self._task)
        self._bar = None


def run_match(
    target: Target,
    spec: SynthSpec,
    strategy: Strategy,
    *,
    budget: int = 500,
    workers: int = 1,
    keep: int = 8,
    seed: int = 0,
    out_dir: str | Path,
    quiet: bool = False,
    pool: RenderPool | None = None,
    backend: str = "loky",
    scheduler: str | None = None,
    on_batch: Callable[[Archive], None] | None = None,
    context: Mapping[str, Any] | None = None,
    resume: bool = False,
    report: bool = True,
    display: Any = None,
    reference: Mapping[str, Any] | None = None,
    refine: str = "length",
) -> dict[str, Any]:
    """Matches ``target`` and writes the output layout of DESIGN.md into ``out_dir``.

    Returns the ``results.json`` content. ``archive.jsonl`` is appended during the search; every
    other file is written atomically at the end (also after Ctrl-C, with the best set so far).
    ``resume`` keeps an existing ``archive.jsonl``: its renders count against the budget and seed
    the optimizers (how ``batch`` continues a killed target). ``report`` writes ``report.html``.
    ``reference`` (native params of the known answer, e.g. from ``hybridmatch sample``) is rendered
    through the same job (same note, length and workers) and scored: the best any search can do under
    this analysis of the target, stored as ``results["reference"]`` (not a search render).
    ``refine`` (one of ``REFINE``) lets an estimated length, note or both be replaced by a better one
    found by rendering probes (:func:`hybridmatch.search.refine_analysis`) when the budget allows;
    ``results["analysis"]`` says what was tried and chosen, and ``analysis.json`` keeps the choice for
    a resumed run. The note is left alone by default: on real recordings pYIN is right far more often
    than the probes, which on a synth that can transpose itself (Dexed) prefer the octave below
    (results/refine.md)."""
    if budget < 1:
        raise ConfigError("--budget must be at least 1")
    if refine not in REFINE:
        raise ConfigError(f"--refine must be one of {', '.join(REFINE)}, not {refine!r}")
    if keep < 1:
        raise ConfigError("--keep must be at least 1")
    strategy.check(spec.space)  # e.g. a missing checkpoint fails here, before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    job = RenderJob(spec, target.audio, target.note, target.duration, dict(strategy.weights))
    own_pool = pool is None
    pool = pool or RenderPool(workers, backend=backend, scheduler=scheduler)
    archive = Archive(out / "archive.jsonl", append=resume)
    progress = Progress(budget, quiet=quiet, label=target.name, display=display)

    def tick(a: Archive) -> None:
        progress(a)
        if on_batch:
            on_batch(a)

    t0 = time.perf_counter()
    try:
        try:
            job, analysis = _choose_analysis(target, job, strategy, pool, archive, out, budget=budget, seed=seed, refine=refine,
                                             resume=resume, context=dict(context or {}))
        except KeyboardInterrupt:  # stopped while probing: write what there is (nothing is searched)
            analysis = {"refined": False, "reason": "interrupted while probing"}
            result = MatchResult(archive, True, time.perf_counter() - t0)
        else:
            result = search(job, strategy, pool, archive, budget=budget - analysis.get("spent", 0), seed=seed, on_batch=tick,
                            context=dict(context or {}))
        wall_s = time.perf_counter() - t0  # probing and search; not the final renders of the returned set
        progress.close()
        archive.close()
        # The shortlist is rendered again, each on a new instance, and the set is chosen from it by
        # those scores (fronts over the whole archive): the sound each preset makes as loaded, since
        # Vital's search renders carry voice state. On an exact synth this is the set chosen before.
        shortlist = select_diverse(archive.entries, spec.space, keep=VERIFY * keep)
        checked = dict(zip(shortlist, pool.verify(job, np.array([archive.entries[i].unit for i in shortlist]).reshape(-1, spec.space.dim)),
                           strict=True)) if shortlist else {}
        verified = [checked[i][0] if i in checked else e for i, e in enumerate(archive.entries)]
        chosen = select_diverse(verified, spec.space, keep=keep, among=shortlist)
        rendered = [checked[i][1:] for i in chosen]
        ref_audio = pool.render(job, spec.space.to_unit(reference)[None], with_presets=False)[0][0] if reference is not None else None
    finally:
        progress.close()
        archive.close()
        if own_pool:
            pool.close()
    features = TargetFeatures(target.audio, spec.sample_rate)
    candidates: list[dict[str, Any]] = []
    write_wav(out / "renders" / "target.wav", target.audio, spec.sample_rate)
    for rank, (i, (audio, preset)) in enumerate(zip(chosen, rendered, strict=True), start=1):
        entry = archive.entries[i]
        stem = f"{rank:02d}"
        preset_path = atomic_write(out / "presets" / f"{stem}{spec.preset_ext}", preset)
        wav_path = write_wav(out / "renders" / f"{stem}.wav", audio, spec.sample_rate)
        final = score(features, audio, names=(*PARETO_KEYS, "mfccd"))
        candidates.append(
            {
                "rank": rank,
                "preset": str(preset_path.relative_to(out)),
                "audio": str(wav_path.relative_to(out)),
                "objectives": {k: final[k] for k in PARETO_KEYS},
                "rms_cosine": 1.0 - final["rms"],
                "mfccd": final["mfccd"],
                "search_loss": entry.loss,
                "loss": checked[i][0].loss,
                "archive_index": i,
                "origin": archive.origins[i],
                "params": spec.space.to_native(entry.unit),
            }
        )
    if len(candidates) > 1:
        bank = export_bank(spec, [c["params"] for c in candidates], out / "presets" / f"bank{spec.preset_ext}")
        candidates_bank = str(bank.relative_to(out)) if bank is not None else None
    else:
        candidates_bank = None
    results = {
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
        "interrupted": result.interrupted,
        "failed_renders": sum(e.error is not None for e in archive.entries),
        "verified": len(shortlist),  # the shortlist rendered again (on new instances) to rank the set; not in the budget
        "bank": candidates_bank,
        "candidates": candidates,
        "analysis": analysis,
    }
    if ref_audio is not None:
        ref = score(features, ref_audio, names=(*PARETO_KEYS, "mfccd"))
        results["reference"] = {"objectives": {k: ref[k] for k in PARETO_KEYS}, "rms_cosine": 1.0 - ref["rms"], "mfccd": ref["mfccd"]}
    atomic_write(out / "results.json", json.dumps(results, indent=1).encode())
    if report:
        from .report import write_report

        clips = {"target": target.audio, **{f"{r:02d}": a for r, (a, _) in enumerate(rendered, start=1)}}
        write_report(out, results=results, archive=archive, audio=clips, sample_rate=spec.sample_rate)
    if result.interrupted:
        raise KeyboardInterrupt
    return results


def _choose_analysis(target: Target, job: RenderJob, strategy: Strategy, pool: RenderPool, archive: Archive, out: Path, *,
                     budget: int, seed: int, refine: str, resume: bool, context: dict) -> tuple[RenderJob, dict[str, Any]]:
    """The job to search under and the ``analysis`` record of results.json (see :func:`run_match`).

    Refines only what was estimated, and only when the probes cost at most a quarter of the budget.
    A resumed run reuses the choice in ``analysis.json``: its archive was rendered under it."""
    path = out / "analysis.json"
    if resume and len(archive):
        if path.exists():
            saved = json.loads(path.read_text())
            return replace(job, note=int(saved["chosen"]["note"]), duration=float(saved["chosen"]["duration"])), saved
        return job, {"refined": False, "reason": "resumed an archive searched under this analysis"}
    note_free = "note" in refine and target.note_source != "given"
    duration_free = "length" in refine and target.duration_source != "given"
    cost = refine_cost(note_free, duration_free)
    if not cost:
        analysis: dict[str, Any] = {"refined": False, "reason": "off (--refine off)" if refine == "off" else f"{refine} given"}
    elif 4 * cost > budget:
        analysis = {"refined": False, "reason": f"budget {budget} < {4 * cost} (4 x the {cost} probe renders)"}
    else:
        probes = Archive(out / "probes.jsonl")  # every probe render, under its own hypothesis (origin)
        try:
            found = refine_analysis(job, strategy, pool, seed=seed, note_free=note_free, duration_free=duration_free, context=context,
                                    on_trial=lambda j, evals: probes.extend(evals, origin=f"note {j.note}, held {j.duration:g} s"))
        finally:
            probes.close()
        analysis = {"refined": True, "note_free": note_free, "duration_free": duration_free, **found.summary((job.note, job.duration))}
        job = found.job
    analysis["chosen"] = {"note": job.note, "duration": job.duration}  # what a resumed run searches under
    atomic_write(path, json.dumps(analysis, indent=1).encode())  # before the archive gets renders made under it
    if analysis["refined"]:
        archive.extend(found.valid, origin=f"probe:{strategy.proposer}")
    return job, analysis


def analyse_array(audio: np.ndarray, spec: SynthSpec, *, note: int, duration: float, name: str = "target") -> Target:
    """A :class:`Target` from a synth render (no trimming, so it matches the render exactly)."""
    return analyse(audio, spec.sample_rate, sample_rate=spec.sample_rate, note=note, duration=duration, name=name, trim=False)
