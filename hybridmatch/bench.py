"""``hybridmatch bench-render``: renders per second, parallel efficiency and pool overhead.
``hybridmatch bench-propose``: what a checkpoint proposer costs per target, in seconds and in evaluations.

All settings are measured side by side in one invocation, on the same candidates, after a warm-up
batch per setting (worker start-up and synth construction are excluded), so the ratios are
comparable even on a noisy machine. Overhead is what a candidate costs beyond the worker's own
``synth.render`` and scoring: dispatch, pickling, result transfer and idle time, per render and
per worker (``wall * workers / n - render - score``)."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from .engine import atomic_write
from .render import RenderJob, RenderPool, evaluate_units
from .search import ROUND
from .synths import SynthSpec

__all__ = ["bench_render", "bench_propose"]


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


# (label, proposer kind, n, options): the proposals the shipped strategies ask for
_PROPOSALS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("`cnf`, 64 samples (`cnf-cma`, `cnf-latent`)", "cnf", 64, {}),
    ("`cnf` + surrogate, 64 of 512 (`cnf-only`, `cnf-latent-sur`)", "cnf", 64, {"surrogate": True, "oversample": 8}),
    ("`regress`, 1 estimate (`regress-cma`)", "regress", 1, {}),
]


def bench_propose(specs: list[SynthSpec], *, repeats: int = 5, threads: int = 2, seconds: float = 1.0, seed: int = 0,
                  out: str | Path | None = None) -> str:
    """Times each shipped proposer of each spec on one target (a render of a prior patch), as the
    strategies call it (16 Euler steps, guidance 2: the conditional and unconditional fields are
    evaluated together). The first call, which loads the checkpoint, is timed apart; the table gives
    the median of ``repeats`` calls after it, and that time as a number of evaluations (the median
    render + scoring of 8 prior patches, in the same process), which is what the proposer's time is
    worth to a search at a fixed render budget."""
    import torch

    from .ml.proposer import propose_from_checkpoint

    torch.set_num_threads(threads)
    rows = []
    for spec in specs:
        rng = np.random.default_rng(seed)
        units = spec.space.sample(rng, 9)
        synth = spec.build()
        target = synth.render(spec.space.to_native(units[0]), note=60, duration=seconds * 0.6, seconds=seconds)
        job = RenderJob(spec, target, 60, seconds * 0.6)
        render = float(np.median([e.render_s + e.score_s for e in evaluate_units(job, units[1:])]))
        for label, kind, n, options in _PROPOSALS:
            t0 = time.perf_counter()
            propose_from_checkpoint(kind, spec.space, n, np.random.default_rng(seed), job=job, **options)
            first = time.perf_counter() - t0
            times = []
            for r in range(repeats):
                t0 = time.perf_counter()
                got = propose_from_checkpoint(kind, spec.space, n, np.random.default_rng(seed + 1 + r), job=job, **options)
                times.append(time.perf_counter() - t0)
            assert got.shape == (n, spec.space.dim)
            median = float(np.median(times))
            rows.append((spec.space.name, label, first, median, max(times), median / render, render * 1e3))
    lines = [
        "# bench-propose: what a proposer costs per target",
        "",
        f"`hybridmatch bench-propose --synth {','.join(_synth_arg(s) for s in specs)} --repeats {repeats} --threads {threads} "
        f"--seconds {seconds}` on {platform.node() or 'this machine'} ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__} with {threads} threads. One target per synth (a {seconds} s render of a prior patch at note 60), "
        "the shipped checkpoints, 16 Euler steps with guidance 2 (as the strategies sample). `first` includes loading the "
        f"checkpoint; `median` and `max` are over {repeats} calls after it, each with the conditioning features computed "
        "from the audio again, as a run does. `in evaluations` is the median call over the median in-process evaluation "
        "(render and scoring against the target, as a worker does) of 8 prior patches.",
        "",
        "| config | proposal | first s | median s | max s | in evaluations | one evaluation ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {c} | {lab} | {f:.3f} | {m:.3f} | {mx:.3f} | {k:.1f} | {rm:.1f} |" for c, lab, f, m, mx, k, rm in rows]
    text = "\n".join(lines) + "\n"
    if out:
        atomic_write(out, text.encode())
    return text
