"""``hybridmatch compare``: strategies x targets x seeds at a fixed render budget.

Every run goes once to the largest budget; a smaller budget ``b`` is read off the run's anytime
curve (the best-loss candidate among the first ``b`` renders), so no work is repeated. Each run
keeps its archive under ``OUT/runs/<strategy>/<target>/s<seed>/`` and, once finished, a small
``done.json`` with its wall time and anytime curve (change points), so an interrupted comparison
resumes where it stopped and summaries need only the ``done.json`` files (the archives, which are
large, are not committed).

Targets are the audio files in a folder. A ``<stem>.json`` next to a file (as written by
``hybridmatch sample``) gives the true note and duration and marks the file as an exact synth render
(no silence trimming), and a sampled phrase's ``<stem>.mid`` its notes; other files are analysed like
``run`` does.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write, write_json
from .audio import find_audio, load_target
from .errors import ConfigError, Interrupted
from .identity import checkpoint_digest
from .objectives import PARETO_KEYS
from .progress import Progress
from .recording import load_recording
from .render import RenderJob, RenderPool
from .search import NEAR_BEST, Archive, Strategy, canonical_definition, returned_set, search

__all__ = ["compare", "load_compare_target"]

METRICS = ("mss", "wmfcc", "sot", "rms_cosine")
KEEP = 8  # run's default --keep: the returned set is measured as run would return it
SET_COLUMNS = (("returned", "recipes"), ("near_best", f"within {NEAR_BEST}x of #1"), ("mss_1", "MSS #1"), ("mss_4", "MSS #4"),
               ("mss_8", "MSS #8"), ("recipe_spread", "recipe spread"), ("audio_spread", "audio spread"))


def load_compare_target(path: Path, spec: Any) -> Any:
    """A target as ``compare`` matches it: at the note and length of its ``<stem>.json`` when it has
    one (sampled targets, untrimmed), a sampled phrase at the notes of its ``<stem>.mid``, else as
    ``run`` reads one note (recordings: trimmed, the note and length estimated)."""
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if "phrase" in meta:
        return load_recording(path, sample_rate=spec.sample_rate, notes=str(path.with_suffix(".mid")))
    if meta:
        return load_target(path, sample_rate=spec.sample_rate, note=meta.get("note"), duration=meta.get("duration"), trim=False)
    return load_recording(path, sample_rate=spec.sample_rate)


def _check_definition(info: dict[str, Any], strategy: Strategy, done: Path, checkpoint: str | None = None, synth: str | None = None) -> None:
    """A finished run is reused only under the definition, checkpoint and synth config it was made
    with (a record without one is taken as it is). The synth config is its
    ``SynthSpec.key``: the backend, the space (ranges, priors, fixed controls, ``meta`` such as
    Vital's ``stateful``), the sample rate and the options; a change to any of them changes what a
    render sounds like or what a search samples."""
    if "strategy" in info and canonical_definition(info["strategy"]) != strategy.definition():
        raise ConfigError(f"{done.parent} was run with another definition of strategy {strategy.name!r}; "
                          "use a new --out (or delete those runs) to compare this one")
    if info.get("checkpoint") and info["checkpoint"] != checkpoint:
        raise ConfigError(f"{done.parent} was run with another checkpoint for strategy {strategy.name!r} "
                          f"(sha256 {info['checkpoint']}, now {checkpoint}); use a new --out (or delete those runs) to compare this one")
    if info.get("synth") and synth is not None and info["synth"] != synth:
        raise ConfigError(f"{done.parent} was run with another synth config (key {info['synth']}, now {synth}); "
                          "use a new --out (or delete those runs) to compare under this one")


def _curve(archive: Archive) -> list[list[float]]:
    """The anytime best as change points: ``[renders, mss, wmfcc, sot, rms, loss]`` each time the
    best-loss candidate changes. Small enough to commit, and every budget can be read off it."""
    points: list[list[float]] = []
    last = -1
    for n, i in enumerate(archive.anytime(), start=1):
        if i != last:
            e = archive.entries[i]
            points.append([n, *(round(float(e.objectives[k]), 5) for k in PARETO_KEYS), round(float(e.loss), 5)])
            last = i
    return points


def _at(curve: Sequence[Sequence[float]], budget: int) -> Sequence[float]:
    """The curve's best at ``budget`` renders (the last change point at or before it)."""
    return [p for p in curve if p[0] <= budget][-1]


def _rows(curve: Sequence[Sequence[float]], budgets: Sequence[int]) -> list[dict[str, float]]:
    rows = []
    for b in budgets:
        _, *objs, loss = _at(curve, b)
        o = dict(zip(PARETO_KEYS, objs, strict=True))
        rows.append({"budget": b, **o, "rms_cosine": 1.0 - o["rms"], "loss": loss})
    return rows


@dataclass
class _Tally:
    """What the finished runs add up to: one row per (strategy, target, seed, budget), each run's
    anytime curve and returned set per strategy."""

    records: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, list[np.ndarray]] = field(default_factory=dict)
    sets: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def add(self, strategy: str, target: str, seed: int, info: dict[str, Any], budgets: Sequence[int]) -> None:
        if info.get("set"):
            self.sets.setdefault(strategy, []).append(info["set"])
        renders = int(info["renders"])
        self.curves.setdefault(strategy, []).append(np.array([_at(info["curve"], n)[1] for n in range(1, renders + 1)]))
        for row in _rows(info["curve"], budgets):
            self.records.append({"strategy": strategy, "target": target, "seed": seed, **row,
                                 "wall_s": info["wall_s"] * min(row["budget"], renders) / max(renders, 1)})


def compare(
    targets: Path,
    spec: Any,
    strategies: Sequence[Strategy],
    *,
    budgets: Sequence[int],
    seeds: int,
    workers: int,
    out: Path,
    quiet: bool = False,
    report_only: bool = False,
) -> str:
    """Runs (or resumes) the comparison; writes ``runs.csv``, ``summary.md`` and ``anytime.png``."""
    files = find_audio(targets)
    for strategy in strategies:
        strategy.check(spec.space)
    out.mkdir(parents=True, exist_ok=True)
    tally = _Tally(curves={s.name: [] for s in strategies}, sets={s.name: [] for s in strategies})
    progress = Progress(len(files) * len(strategies) * seeds, quiet=quiet, label="compare")
    try:
        with RenderPool(workers) as pool:
            for path in files:
                target = load_compare_target(path, spec)
                for strategy in strategies:
                    for seed in range(seeds):
                        info = _run(pool, spec, strategy, target, seed, out / "runs" / strategy.name / path.stem / f"s{seed}",
                                    budget=max(budgets), report_only=report_only)
                        if info is not None:
                            tally.add(strategy.name, path.stem, seed, info, budgets)
                            progress.update(sum(map(len, tally.curves.values())), f"{strategy.name} {path.stem} s{seed}")
    finally:
        progress.close()
    if not tally.records:
        raise ConfigError(f"no finished runs under {out}")
    return _write_outputs(out, tally, strategies, budgets, spec, n_targets=len(files), seeds=seeds, targets=targets)


def _run(pool: RenderPool, spec: Any, strategy: Strategy, target: Any, seed: int, run_dir: Path, *, budget: int,
         report_only: bool) -> dict[str, Any] | None:
    """One run's record (``done.json``): read when it finished under this definition and its
    checkpoint's hash, else run now (None with ``report_only``)."""
    checkpoint = checkpoint_digest(strategy, spec.space)
    done = run_dir / "done.json"
    if done.exists():
        info = json.loads(done.read_text())
        _check_definition(info, strategy, done, checkpoint, spec.key[:16])
        return info  # type: ignore[no-any-return]
    if report_only:
        return None
    archive = Archive(run_dir / "archive.jsonl")
    job = RenderJob.of(spec, target, strategy.weights)
    t0 = time.perf_counter()
    result = search(job, strategy, pool, archive, budget=budget, seed=seed)
    archive.close()
    if result.interrupted:
        raise Interrupted(f"interrupted; finished runs stay under {run_dir.parent.parent.parent}, and the same command resumes")
    info = {"wall_s": time.perf_counter() - t0, "renders": len(archive), "curve": _curve(archive), "strategy": strategy.definition(),
            "checkpoint": checkpoint, "synth": spec.key[:16], "set": returned_set(archive.entries, spec.space, keep=KEEP)}
    write_json(done, info, indent=None)
    return info


def _write_outputs(out: Path, tally: _Tally, strategies: Sequence[Strategy], budgets: Sequence[int], spec: Any, *, n_targets: int, seeds: int,
                   targets: Path) -> str:
    """``runs.csv``, ``summary.md`` and the two plots; returns the summary."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(tally.records[0]))
    writer.writeheader()
    writer.writerows(tally.records)
    atomic_write(out / "runs.csv", buf.getvalue().encode())
    summary = _summary(tally.records, strategies, budgets, tally.curves, spec, n_targets, seeds, targets, tally.sets)
    atomic_write(out / "summary.md", summary.encode())
    title = f"{spec.backend} / {spec.space.name}"
    _plot(tally.curves, out / "anytime.png", title)
    _plot_targets(tally.records, [s.name for s in strategies], max(budgets), out / "targets.png", title)
    return summary


def _q(values: Sequence[float]) -> str:
    v = np.asarray(values, dtype=float)
    if not v.size:
        return "-"
    return f"{np.median(v):.3g} [{np.percentile(v, 25):.3g}, {np.percentile(v, 75):.3g}]"


def _summary(records: list[dict[str, Any]], strategies: Sequence[Strategy], budgets: Sequence[int], curves: dict[str, list[np.ndarray]],
             spec: Any, n_targets: int, seeds: int, targets: Path, sets: dict[str, list[dict[str, float]]]) -> str:
    names = [s.name for s in strategies if curves[s.name]]  # strategies with at least one finished run
    finished = len({(r["strategy"], r["target"], r["seed"]) for r in records})
    lines = [
        f"# compare: {spec.backend} / {spec.space.name}",
        "",
        f"{finished} of {n_targets * seeds * len(strategies)} runs finished. {n_targets} targets from `{targets}`, {seeds} seeds, strategies {', '.join(names)}; budgets {', '.join(map(str, budgets))} "
        "read off each run's anytime curve (the candidate with the best search loss after b renders).",
        "Cells: median [25th, 75th percentile] over targets x seeds. Lower is better except rms_cosine.",
        "",
    ]
    for b in budgets:
        lines += [f"## budget {b}", "", "| strategy | " + " | ".join(METRICS) + " | wall s |", "|---|" + "---:|" * (len(METRICS) + 1)]
        for n in names:
            rows = [r for r in records if r["strategy"] == n and r["budget"] == b]
            lines.append(f"| {n} | " + " | ".join(_q([r[m] for r in rows]) for m in METRICS) + f" | {_q([r['wall_s'] for r in rows])} |")
        lines.append("")
    b = max(budgets)
    lines += [f"## pairwise win rate on MSS at budget {b}", "", "Share of (target, seed) pairs where the row strategy's MSS is lower than the column's.", "",
              "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    by = {(r["strategy"], r["target"], r["seed"]): r["mss"] for r in records if r["budget"] == b}
    for a in names:
        cells = []
        for c in names:
            keys = [(t, s) for (n, t, s) in by if n == a and (c, t, s) in by]
            cells.append("-" if a == c else f"{np.mean([by[(a, t, s)] < by[(c, t, s)] for t, s in keys]):.0%}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", "## renders to reach (median anytime MSS)", "",
              "Renders the row strategy needs for its median best-so-far MSS to reach the column strategy's median MSS at the full budget "
              "(`>N` when it never does).", "", "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    medians = {n: np.median(np.stack(curves[n]), axis=0) for n in names if curves[n]}
    for a in names:
        cells = []
        for c in names:
            goal = medians[c][-1]
            hit = np.nonzero(medians[a] <= goal)[0]
            cells.append(str(int(hit[0]) + 1) if hit.size else f">{len(medians[a])}")
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    if any(sets.get(n) for n in names):
        lines += ["", f"## the returned recipes at budget {b}", "",
                  f"The recipes `select_recipes` picks from each run's archive, by the search's scores (what `run --keep {KEEP}` returns on a synth "
                  "whose renders are exact; `run` ranks a shortlist by fresh renders, and `scripts/verify_runs.py` does that here): how many "
                  f"came back, how many are within {NEAR_BEST}x of the first one's MSS, the MSS of the 1st, 4th and 8th (runs with fewer left out "
                  "of that cell), and their mean pairwise distance in how they are built (`ParamSpace.recipe_distance`) and in audio (RMS between "
                  "the renders' fingerprints). Runs whose archive was not kept (copied in as `done.json` only) are left out; `runs` says how many are in.", "",
                  "| strategy | runs | " + " | ".join(label for _, label in SET_COLUMNS) + " |", "|---|---:|" + "---:|" * len(SET_COLUMNS)]
        for n in names:
            if sets.get(n):
                lines.append(f"| {n} | {len(sets[n])} | " + " | ".join(_q([x[k] for x in sets[n] if x.get(k) is not None]) for k, _ in SET_COLUMNS) + " |")
    lines += ["", "![anytime MSS](anytime.png)", "", "![MSS per target](targets.png)", ""]
    return "\n".join(lines)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def _plot_targets(records: list[dict[str, Any]], names: Sequence[str], budget: int, path: Path, title: str) -> None:
    """Grouped bars: median MSS over seeds per target and strategy at ``budget``, IQR as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = sorted({r["target"] for r in records})
    fig, ax = plt.subplots(figsize=(min(max(7.0, 2.0 + 0.2 * len(targets) * max(len(names), 1)), 16.0), 4.5))
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(targets))
    for k, name in enumerate(names):
        med, lo, hi = [], [], []
        for t in targets:
            vals = [r["mss"] for r in records if r["strategy"] == name and r["target"] == t and r["budget"] == budget]
            q = np.percentile(vals, [25, 50, 75]) if vals else [np.nan] * 3
            med.append(q[1])
            lo.append(q[1] - q[0])
            hi.append(q[2] - q[1])
        ax.bar(x + (k - (len(names) - 1) / 2) * width, med, width, yerr=[lo, hi], capsize=2, label=name)
    ax.set_xticks(x, targets, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"MSS at {budget} renders (median over seeds)")
    ax.set_title(f"per-target MSS: {title}")
    ax.legend(fontsize=8)
    _save(fig, path)


def _plot(curves: dict[str, list[np.ndarray]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in curves.items():
        if not runs:
            continue
        stack = np.stack(runs)
        x = np.arange(1, stack.shape[1] + 1)
        ax.plot(x, np.median(stack, axis=0), label=name)
        ax.fill_between(x, np.percentile(stack, 25, axis=0), np.percentile(stack, 75, axis=0), alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("renders")
    ax.set_ylabel("MSS of best-so-far candidate (dB)")
    ax.set_title(f"anytime MSS, median and IQR: {title}")
    ax.legend()
    _save(fig, path)
