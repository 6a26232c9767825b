"""``hybridmatch bench-memory``: the peak resident memory of a whole ``run`` against its budget.

Each budget runs as its own ``hybridmatch run`` process on one synth-rendered target, so the numbers
are what a user's run costs: search, the recipes, the verified set, presets and report. The peak is the
largest process of the run (``ru_maxrss`` of the process and the workers it reaped), read with
``os.wait4`` when it ends; the run's own process is the one that holds the archive and chooses the recipes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._io import atomic_write, write_wav
from .bench import _bench_job, _synth_arg
from .errors import HybridMatchError
from .synths import SynthSpec

__all__ = ["bench_memory"]

RUN = "from hybridmatch.cli import main; main()"
WARM_UP = 32  # a first short run, not counted, builds the on-disk caches (numba's JIT, fonts) every later run reads


def bench_memory(spec: SynthSpec, strategy: str, budgets: list[int], *, workers: int = 2, seconds: float = 0.5, seed: int = 0,
                 out: str | Path | None = None) -> str:
    """Runs ``strategy`` at each budget (smallest first); returns (and writes to ``out``) a markdown table."""
    budgets = sorted(budgets)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hybridmatch-mem-") as tmp:
        job, _ = _bench_job(spec, 1, seconds, seed)
        target = write_wav(Path(tmp) / "target.wav", job.target, spec.sample_rate)
        _peak_rss(_command(spec, strategy, target, Path(tmp) / "warm-up", WARM_UP, workers, job.duration), Path(tmp) / "warm-up.log")
        for budget in budgets:
            run_dir = Path(tmp) / f"b{budget}"
            peak_mb, wall = _peak_rss(_command(spec, strategy, target, run_dir, budget, workers, job.duration), Path(tmp) / f"b{budget}.log")
            renders = json.loads((run_dir / "results.json").read_text())["renders"]
            rows.append((budget, renders, peak_mb, wall))
    base = rows[0][2]
    lines = [
        f"# bench-memory: {spec.backend} / {spec.space.name}, `{strategy}`",
        "",
        f"`hybridmatch bench-memory --synth {_synth_arg(spec)} --config {spec.space.name} --strategy {strategy} "
        f"--budgets {','.join(map(str, budgets))} --workers {workers} --seconds {seconds}` on {platform.node() or 'this machine'}; "
        "one `hybridmatch run` process per budget (after an uncounted warm-up run), peak RSS of its largest process.",
        "",
        "| budget | renders | peak RSS MB | vs smallest budget | wall s |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {b} | {r} | {mb:.0f} | {mb / base:.2f}x | {w:.0f} |" for b, r, mb, w in rows]
    text = "\n".join(lines) + "\n"
    if out:
        atomic_write(out, text.encode())
    return text


def _command(spec: SynthSpec, strategy: str, target: Path, run_dir: Path, budget: int, workers: int, duration: float) -> list[str]:
    return [sys.executable, "-c", RUN, "run", str(target), "--synth", _synth_arg(spec), "--config", spec.space.name, "--strategy", strategy,
            "--budget", str(budget), "--workers", str(workers), "--note", "60", "--duration", f"{duration:g}", "--refine", "off",
            "--quiet", "--out", str(run_dir)]


def _peak_rss(command: list[str], log: Path) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``command``; its stderr goes to ``log``."""
    t0 = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise HybridMatchError(f"bench-memory: the run failed (exit {proc.returncode}): {log.read_text().strip()[-300:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0
