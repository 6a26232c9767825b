"""``hybridmatch bench-run``: where the time of a whole ``run`` goes, against its render pool.

Each (synth, workers) runs ``hybridmatch run`` as a fresh process on a render of a prior patch, as
a user would (note and length estimated, the default probes, ``cma`` or the strategy given, one seed), and reads the
phases that run recorded in ``results.json`` (``timings``). Imports are the time from launching the
process to the start of the match; exit is what remains after the report. In the same invocation,
the pool alone renders and scores the same number of prior patches at the same length (as
``bench-render`` does), so the search's renders/s is set against what the pool can give."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write, write_wav
from .bench import _bench_job, _measure, _synth_arg
from .bench_memory import RUN
from .errors import HybridMatchError
from .synths import SynthSpec

__all__ = ["bench_run"]

PHASES = ("import", "analysis", "probes", "search", "verify", "write", "report", "exit")


def _run(spec: SynthSpec, config: str | None, target: Path, out: Path, *, workers: int, renders: int, seed: int, strategy: str) -> dict[str, Any]:
    """One ``hybridmatch run`` process: its phases in seconds, first render from launch, search renders/s."""
    command = [sys.executable, "-c", RUN, "run", str(target), "--synth", _synth_arg(spec), *(["--config", config] if config else []),
               "--strategy", strategy, "--budget", str(renders), "--workers", str(workers), "--seed", str(seed), "--quiet", "--out", str(out)]
    launched = time.time()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ended = time.time()
    if proc.returncode != 0:
        raise HybridMatchError(f"bench-run: the run failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    results = json.loads((out / "results.json").read_text())
    t = results["timings"]
    phases = {"import": t["started_at"] - launched, **{p: t[f"{p}_s"] for p in PHASES[1:7]}}
    phases["exit"] = ended - launched - sum(phases.values())
    searched = results["renders"] - results["analysis"].get("renders", 0)  # the probes made the rest
    return {"phases": phases, "total": ended - launched, "first_render": t["first_render_s"] + phases["import"],
            "rate": searched / max(t["search_s"], 1e-9)}


def bench_run(specs: list[tuple[SynthSpec, str | None]], *, workers: list[int], renders: int = 300, seconds: float = 1.5, seed: int = 0,
              repeats: int = 1, strategy: str = "cma", out: str | Path | None = None) -> str:
    """Benchmarks a whole run of each ``(spec, --config as given)`` on each worker count, ``repeats``
    times in turn (so a slow spell of the machine falls on every worker count alike); a markdown table
    of the medians."""
    if repeats < 1:
        raise HybridMatchError("--repeats must be at least 1")
    measured: dict[tuple[str, int], list[tuple[dict[str, Any], float]]] = {}
    for spec, config in specs:
        job, units = _bench_job(spec, renders, seconds, seed)
        with tempfile.TemporaryDirectory(prefix="hybridmatch-run-") as tmp:
            target = write_wav(Path(tmp) / "target.wav", job.target, spec.sample_rate)
            for r in range(repeats):
                for w in workers:
                    pool_rate = renders / _measure(spec, job, units, w)[0]
                    run = _run(spec, config, target, Path(tmp) / f"w{w}-{r}", workers=w, renders=renders, seed=seed, strategy=strategy)
                    measured.setdefault((spec.space.name, w), []).append((run, pool_rate))
    rows = [(name, w, _median_run([run for run, _ in got]), float(np.median([pool for _, pool in got]))) for (name, w), got in measured.items()]
    text = _table(rows, specs, workers=workers, renders=renders, seconds=seconds, seed=seed, repeats=repeats, strategy=strategy)
    if out:
        atomic_write(out, text.encode())
    return text


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each measured number's median over the repeats."""
    return {"phases": {k: float(np.median([r["phases"][k] for r in runs])) for k in PHASES},
            **{k: float(np.median([r[k] for r in runs])) for k in ("total", "first_render", "rate")}}


def _table(rows: list[tuple[str, int, dict[str, Any], float]], specs: list[tuple[SynthSpec, str | None]], *, workers: list[int], renders: int,
           seconds: float, seed: int, repeats: int, strategy: str) -> str:
    base = {name: run["rate"] for name, w, run, _ in rows if w == workers[0]}
    base_pool = {name: pool for name, w, _, pool in rows if w == workers[0]}
    lines = [
        "# bench-run: a whole run, phase by phase, against its render pool",
        "",
        f"`hybridmatch bench-run --synth {','.join(_synth_arg(s) for s, _ in specs)}"
        + (f" --config {','.join(c or '' for _, c in specs)}" if any(c for _, c in specs) else "") + " "
        f"--workers {','.join(map(str, workers))} --renders {renders} --seconds {seconds} --repeats {repeats}"
        + (f" --strategy {strategy}" if strategy != "cma" else "") + f"` on {platform.node() or 'this machine'} "
        f"({platform.processor() or platform.machine()}). Each run is one `hybridmatch run` process ({strategy}, {renders} renders, seed {seed}, "
        f"note and length estimated) on a {seconds} s render of a prior patch; each cell is the median of {repeats}, the worker counts "
        "taking turns. Seconds per phase; `outside` is everything but the probe and search renders; `first render` is from launch. "
        "`pool` is the pool alone on the same number of prior patches, measured before each run; efficiency is the search's renders/s "
        "over the pool's.",
        "",
        "| config | workers | total s | " + " | ".join(PHASES) + " | outside s | first render s | search renders/s | speed-up "
        "| pool renders/s | pool speed-up | efficiency |",
        "|---|---:|---:|" + "---:|" * len(PHASES) + "---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, w, run, pool in rows:
        p = run["phases"]
        outside = run["total"] - p["probes"] - p["search"]
        lines.append(f"| {name} | {w} | {run['total']:.1f} | " + " | ".join(f"{p[k]:.2f}" for k in PHASES) + f" | {outside:.1f} | "
                     f"{run['first_render']:.2f} | {run['rate']:.2f} | {run['rate'] / base[name]:.2f}x | {pool:.2f} | "
                     f"{pool / base_pool[name]:.2f}x | {run['rate'] / pool:.0%} |")
    return "\n".join(lines) + "\n"
