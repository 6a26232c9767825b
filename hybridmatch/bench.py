"""``hybridmatch bench-render``: renders per second, parallel efficiency and pool overhead.

All settings are measured side by side in one invocation, on the same candidates, after a warm-up
batch per setting (worker start-up and synth construction are excluded), so the ratios are
comparable even on a noisy machine. Overhead is what a candidate costs beyond the worker's own
``synth.render`` and scoring: dispatch, pickling, result transfer and idle time, per render and
per worker (``wall * workers / n - render - score``)."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from .engine import atomic_write
from .render import RenderJob, RenderPool
from .search import ROUND
from .synths import SynthSpec

__all__ = ["bench_render"]


def _synth_arg(spec: SynthSpec) -> str:
    plugin = spec.options.get("plugin")
    return f"vst3:{plugin}" if spec.backend == "vst3" and plugin else spec.backend


def bench_render(spec: SynthSpec, *, workers: list[int], renders: int = 96, seconds: float = 1.0, seed: int = 0, out: str | Path | None = None) -> str:
    """Benchmarks ``spec`` on each worker count; returns (and writes to ``out``) a markdown table."""
    rng = np.random.default_rng(seed)
    units = spec.space.sample(rng, renders)
    synth = spec.build()
    target = synth.render(spec.space.to_native(units[0]), note=60, duration=seconds * 0.6, seconds=seconds)
    job = RenderJob(spec, target, 60, seconds * 0.6)
    rows = []
    base_rate = None
    for w in workers:
        with RenderPool(w) as pool:
            size = max(ROUND, w)  # the ask/tell round size search() uses
            pool.evaluate(job, units[:size])  # warm-up: start workers, build synths
            t0 = time.perf_counter()
            evals = []
            for start in range(0, renders, size):
                evals += pool.evaluate(job, units[start : start + size])
            wall = time.perf_counter() - t0
        render_s = float(np.mean([e.render_s for e in evals]))
        score_s = float(np.mean([e.score_s for e in evals]))
        rate = renders / wall
        base_rate = base_rate or rate / workers[0]
        overhead = max(wall * w / renders - render_s - score_s, 0.0)
        rows.append((w, rate, rate / base_rate, rate / (base_rate * w), render_s * 1e3, score_s * 1e3, overhead * 1e3, overhead / render_s))
    lines = [
        f"# bench-render: {spec.backend} / {spec.space.name}",
        "",
        f"`hybridmatch bench-render --synth {_synth_arg(spec)} --config {spec.space.name} --workers {','.join(map(str, workers))} "
        f"--renders {renders} --seconds {seconds}` on {platform.node() or 'this machine'} ({platform.processor() or platform.machine()}); "
        f"{renders} prior-sampled patches, {seconds} s renders, batches of max({ROUND}, workers) (as `run`), one candidate per task.",
        "",
        "| workers | renders/s | speed-up | parallel efficiency | synth.render ms | scoring ms | overhead ms/render | overhead / render time |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {w} | {r:.2f} | {s:.2f}x | {e:.0%} | {rm:.1f} | {sm:.1f} | {om:.1f} | {o:.1%} |" for w, r, s, e, rm, sm, om, o in rows]
    text = "\n".join(lines) + "\n"
    if out:
        atomic_write(out, text.encode())
    return text
