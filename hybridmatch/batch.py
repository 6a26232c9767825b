"""``hybridmatch batch FOLDER``: match every audio file under a folder into a mirrored output tree.

``song/kicks/a.wav`` is matched into ``OUT/kicks/a/`` (the usual run layout, report included).
A target is complete when its ``results.json`` says so for the same job (synth, config,
strategy, seed, budget: see :mod:`hybridmatch.identity`); complete targets are skipped on the next
call, and a folder left by another job is refused unless ``force``. A target whose run was killed (``kill -9``, power loss) keeps its ``archive.jsonl``, which is
fsynced per batch of renders: the next call resumes it with those renders counted against the
budget and seeding the optimizers, so no evaluated candidate is lost. A file that cannot be read or
analysed is reported in ``batch.json`` / ``index.html`` and the batch goes on.

Render batches run on one :class:`~hybridmatch.render.RenderPool` shared by all targets: local loky
workers, or a dask.distributed cluster (``backend="dask"``, ``scheduler`` = its address; a
LocalCluster with ``workers`` processes when no address is given), through joblib's dask backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._io import write_json
from .audio import find_audio
from .engine import default_budget, run_match
from .errors import HybridMatchError, Interrupted
from .identity import job_identity
from .progress import Progress, progress_display
from .recording import check_folder_mode, load_recording
from .render import RenderPool
from .report import write_index
from .sampling import known_answer
from .search import Deadline, Strategy
from .synths import SynthSpec

__all__ = ["batch", "run_dir_for"]


def run_dir_for(folder: Path, path: Path, out: Path, files: Sequence[Path]) -> Path:
    """``OUT/<relative dir>/<stem>``; ``<stem>_<ext>`` when two files in one folder share a stem."""
    rel = path.relative_to(folder)
    clash = sum(1 for f in files if f.parent == path.parent and f.stem == path.stem) > 1
    return out / rel.parent / (f"{rel.stem}_{rel.suffix.lstrip('.').lower()}" if clash else rel.stem)


def _complete(run_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The results of a finished run of this same job, else None (absent, interrupted, torn or another job's)."""
    try:
        res = json.loads((run_dir / "results.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(res, dict) or res.get("interrupted") or res.get("job") != identity or not (run_dir / "report.html").exists():
        return None
    return res


def _row(rel: str, run_dir: Path, out: Path, res: dict[str, Any], status: str = "done") -> dict[str, Any]:
    best = min(res["candidates"], key=lambda c: c["loss"]) if res["candidates"] else None
    row: dict[str, Any] = {"file": rel, "status": status, "out": str(run_dir.relative_to(out)), "renders": res["renders"],
                           "wall_s": res["wall_s"], "note": res["note"], "duration": res["duration"]}
    if best is not None:
        row.update(mss=best["objectives"]["mss"], wmfcc=best["objectives"]["wmfcc"], rms_cosine=best["rms_cosine"],
                   lowest_mss=min(c["objectives"]["mss"] for c in res["candidates"]),
                   report=str((run_dir / "report.html").relative_to(out)))
    if "reference" in res:  # the known answer scored under the same analysis (targets from `hybridmatch sample`)
        row.update(known_mss=res["reference"]["objectives"]["mss"], known_wmfcc=res["reference"]["objectives"]["wmfcc"])
    return row


def batch(
    folder: str | Path,
    spec: SynthSpec,
    strategy: Strategy,
    *,
    out: str | Path,
    budget: int | None = None,
    time_limit: float | None = None,
    workers: int = 1,
    keep: int = 8,
    seed: int = 0,
    note: int | None = None,
    duration: float | None = None,
    notes: str = "one",
    max_seconds: float = 60.0,
    backend: str = "loky",
    scheduler: str | None = None,
    quiet: bool = False,
    refine: str = "length",
    force: bool = False,
) -> list[dict[str, Any]]:
    """Matches every target under ``folder``; returns one row per file (also in ``OUT/batch.json``).
    ``budget``, ``time_limit`` (seconds) and ``notes`` apply to each target, as in :func:`hybridmatch.match`."""
    check_folder_mode(notes)
    folder, out, budget = Path(folder), Path(out), default_budget(budget, time_limit)  # a bad --time fails here, before any target
    files = find_audio(folder, recursive=True, exclude=out)
    strategy.check(spec.space)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    display = _started_display(quiet)
    overall = Progress(len(files), quiet=quiet, label="batch", display=display)
    t0 = time.perf_counter()

    def save() -> None:
        _save(out, rows, folder=folder, spec=spec, strategy=strategy, budget=budget, seed=seed, wall_s=time.perf_counter() - t0)

    def match_one(pool: RenderPool, path: Path, run_dir: Path) -> dict[str, Any]:
        deadline = Deadline.start(time_limit) if time_limit is not None else None
        target = load_recording(path, sample_rate=spec.sample_rate, notes=notes, note=note, duration=duration, max_seconds=max_seconds)
        if (done := _complete(run_dir, job_identity(target, spec, strategy, seed=seed, budget=budget, refine=refine, time_limit=time_limit))) is not None:
            return done
        with Progress(budget, quiet=quiet, label=target.name, display=display, deadline=deadline) as progress:
            return run_match(target, spec, strategy, pool=pool, budget=budget, keep=keep, seed=seed, out_dir=run_dir, on_progress=progress,
                             force=force, reference=known_answer(path, spec), refine=refine, deadline=deadline)

    try:
        with RenderPool(workers, backend=backend, scheduler=scheduler) as pool:
            for k, path in enumerate(files):
                rows.append(_one(folder, path, out, files, lambda p, d: match_one(pool, p, d)))
                save()
                overall.update(k + 1, f"{rows[-1]['file']}: {rows[-1]['status']}")
    except KeyboardInterrupt:
        rows.append(_stopped(folder, files[len(rows)] if len(rows) < len(files) else None))
        save()
        raise Interrupted(f"interrupted; {out / 'batch.json'} records the targets done, and the same command resumes") from None
    finally:
        overall.close()
        if display is not None:
            display.stop()
    return rows  # saved after every target


def _started_display(quiet: bool) -> Any:
    """One display for the overall bar and each target's bar, started; None when quiet."""
    display = None if quiet else progress_display()
    if display is not None:
        display.start()
    return display


def _stopped(folder: Path, path: Path | None) -> dict[str, Any]:
    """The row of the target Ctrl-C stopped (none when every target was done)."""
    return {"file": str(path.relative_to(folder)) if path is not None else "", "status": "interrupted",
            "error": "stopped by the user; run the same command again to resume"}


def _save(out: Path, rows: list[dict[str, Any]], *, folder: Path, spec: SynthSpec, strategy: Strategy, budget: int, seed: int,
          wall_s: float) -> None:
    """``batch.json`` and ``index.html``, rewritten after every target."""
    summary = {"folder": str(folder), "synth": spec.backend, "config": spec.space.name, "strategy": strategy.name,
               "budget": budget, "seed": seed, "wall_s": round(wall_s, 2), "targets": rows}
    write_json(out / "batch.json", summary)
    write_index(out, rows, title=f"hybridmatch batch: {folder.name} ({spec.backend} / {spec.space.name}, {strategy.name})")


def _one(folder: Path, path: Path, out: Path, files: list[Path], match: Any) -> dict[str, Any]:
    """One file's row: read from a finished run of the same job, else matched now; a bad file is an error row."""
    rel = str(path.relative_to(folder))
    run_dir = run_dir_for(folder, path, out, files)
    try:
        return _row(rel, run_dir, out, match(path, run_dir))
    except HybridMatchError as exc:  # this file is bad; the others still get matched
        return {"file": rel, "status": "error", "error": str(exc)}
