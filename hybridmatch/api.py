"""The public entry point: ``hybridmatch.match(target, ...)`` does what ``hybridmatch run`` does.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from hybridmatch import match
>>> from hybridmatch.catalog import resolve_synth
>>> from hybridmatch.sampling import save_sample
>>> folder = Path(tempfile.mkdtemp())
>>> wav = save_sample(resolve_synth("toy", None), seed=3, note=60, duration=0.3, seconds=0.5, out=folder / "t.wav")[0]
>>> result = match(wav, synth="toy", strategy="random", budget=16, keep=2, out=folder / "out", report=False)
>>> result.renders, 1 <= len(result.candidates) <= 2, result.best["rank"]
(16, True, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from time import time as clock
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the package's modules are imported inside the functions, so that `hybridmatch --help` stays quick
    import numpy as np

    from .audio import Target
    from .render import RenderPool
    from .search import Strategy
    from .synths import SynthSpec

__all__ = ["MatchResult", "match"]


@dataclass(frozen=True)
class MatchResult:
    """What a match wrote: ``out`` (the folder) and ``results`` (``results.json`` as a dict)."""

    out: Path
    results: dict[str, Any]

    @property
    def candidates(self) -> list[dict[str, Any]]:
        """The returned patches in rank order: preset and render paths (relative to ``out``),
        objectives, native ``params``."""
        return list(self.results["candidates"])

    @property
    def best(self) -> dict[str, Any]:
        return self.candidates[0]

    @property
    def renders(self) -> int:
        return int(self.results["renders"])


def match(
    target: str | Path,
    *,
    synth: str = "vital",
    config: str | None = None,
    strategy: str = "auto",
    budget: int | None = None,
    time: float | None = None,
    workers: int = 1,
    keep: int = 8,
    seed: int = 0,
    out: str | Path | None = None,
    note: int | None = None,
    duration: float | None = None,
    notes: str = "one",
    refine: str = "length",
    max_seconds: float = 60.0,
    backend: str = "loky",
    scheduler: str | None = None,
    quiet: bool = True,
    report: bool = True,
    force: bool = False,
) -> MatchResult:
    """Matches the audio file ``target`` with ``synth`` (a registered name or ``vst3:PATH``) into ``out`` (default
    ``hybridmatch-out/<stem>``): presets, renders, ``results.json``, ``report.html``. ``note`` and ``duration`` (seconds
    held) are estimated when None; ``notes`` may make it a phrase every candidate plays (:mod:`hybridmatch.recording`).
    ``sample``'s ``<stem>.json`` beside it is the known answer. An ``out`` holding this job continues it; another
    job's is refused unless ``force``. ``budget``: renders (500 by default); ``time``: seconds for the whole match,
    ``budget`` (no cap by default) then an upper bound. Bad input raises a ``HybridMatchError`` before anything is written."""
    from .audio import load_audio
    from .catalog import resolve_synth
    from .engine import default_budget, run_match
    from .progress import Progress
    from .render import RenderPool
    from .sampling import known_answer
    from .search import Deadline

    started = clock()
    deadline = Deadline.start(time) if time is not None else None  # the clock starts before anything is loaded
    budget = default_budget(budget, time)
    spec = resolve_synth(synth, config)
    audio, rate = load_audio(target, max_seconds=max_seconds)
    out_dir = _out_dir(target, out)
    written: dict[str, Any] = {}
    progress = Progress(budget, quiet=quiet, label=Path(target).stem, deadline=deadline)
    try:
        with RenderPool(workers, backend=backend, scheduler=scheduler) as pool:
            strat, tgt = _prepare(pool, spec, strategy, audio, rate, notes=notes, note=note, duration=duration, name=Path(target).stem)
            progress.watch(pool, started)
            run_match(tgt, spec, strat, pool=pool, budget=budget, keep=keep, seed=seed, out_dir=out_dir, on_progress=progress,
                      reference=known_answer(target, spec), refine=refine, report=False, on_written=written.update, force=force,
                      deadline=deadline, started=started)
    finally:
        progress.close()
        if report and written and all(c["preset"] is not None for c in written["candidates"]):
            _draw_report(out_dir, written)  # once the pool is closed: after Ctrl-C its dying workers can interrupt nothing more
    return MatchResult(out_dir, written)  # results.json as written, with a report that failed recorded as skipped


def _prepare(pool: RenderPool, spec: SynthSpec, strategy: str, audio: np.ndarray, rate: int, **analysis: Any) -> tuple[Strategy, Target]:
    """The strategy, checked, and the analysed target. The workers start and build the synth, and
    one of them analyses the target (pYIN's librosa import alone is 1.6 s), while this process loads
    the strategy's flow (torch) and optimizer (nevergrad); ``run_match`` checks it again from the caches."""
    from .catalog import resolve_strategy
    from .recording import analyse_recording

    pool.prewarm(spec)
    analysed = pool.call_soon(analyse_recording, audio, rate, sample_rate=spec.sample_rate, **analysis)
    strat = resolve_strategy(strategy, spec)
    strat.check(spec.space)
    return strat, analysed()


def _out_dir(target: str | Path, out: str | Path | None) -> Path:
    """``out``, else ``hybridmatch-out/<target stem>``."""
    from .errors import TargetError

    if out is None and Path(target).stem in ("", ".", ".."):
        raise TargetError(f"{target}: give --out; the file's stem cannot name an output folder")
    return Path(out) if out is not None else Path("hybridmatch-out") / Path(target).stem


def _draw_report(out: Path, results: dict[str, Any]) -> None:
    """``report.html``, and the seconds it took in results.json's ``timings``."""
    from ._io import write_json
    from .engine import report_or_skip

    t0 = clock()
    report_or_skip(out, results)
    results["timings"]["report_s"] = round(clock() - t0, 3)
    write_json(out / "results.json", results)

