"""``hybridmatch bench-render``: renders per second, parallel efficiency and pool overhead.
``hybridmatch bench-propose``: what a checkpoint proposer costs per target, in seconds and in evaluations,
for the proposals the shipped strategies ask for.

All settings are measured side by side in one invocation, on the same candidates, after a warm-up
batch per setting (worker start-up and synth construction are excluded), so the ratios are
comparable even on a noisy machine. Overhead is what a candidate costs beyond the worker's own
``synth.render`` and scoring: dispatch, pickling, result transfer and idle time, per render and
per worker (``wall * workers / n - render - score``)."""

from __future__ import annotations

import dataclasses
import platform
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write
from .errors import ConfigError
from .objectives import PENALTY
from .render import RenderJob, RenderPool, evaluate_units
from .search import ROUND, Strategy, propose
from .synths import SynthSpec

__all__ = ["bench_render", "bench_propose"]


def _synth_arg(spec: SynthSpec) -> str:
    plugin = spec.options.get("plugin")
    return f"vst3:{plugin}" if spec.backend == "vst3" and plugin else spec.backend


def _bench_job(spec: SynthSpec, n: int, seconds: float, seed: int) -> tuple[RenderJob, np.ndarray]:
    """``n`` prior-sampled patches and a job whose target is the first one's render (note 60)."""
    units = spec.space.sample(np.random.default_rng(seed), n)
    target = spec.build().render(spec.space.to_native(units[0]), note=60, duration=seconds * 0.6, seconds=seconds)
    return RenderJob(spec, target, 60, seconds * 0.6), units


def _silent(evaluation: Any) -> bool:
    return bool(evaluation.objectives.get("mss") == PENALTY["mss"])


def _measure(spec: SynthSpec, job: RenderJob, units: np.ndarray, w: int) -> tuple[float, list[Any]]:
    """Wall seconds and evaluations of ``units`` on ``w`` workers, after a warm-up batch."""
    renders = len(units)
    with RenderPool(w) as pool:
        size = max(ROUND, w)  # the ask/tell round size search() uses
        pool.evaluate(job, units[:size])  # warm-up: start workers, build synths
        t0 = time.perf_counter()
        evals = []
        for start in range(0, renders, size):
            evals += pool.evaluate(job, units[start : start + size])
        return time.perf_counter() - t0, evals


def vary_specs(spec: SynthSpec, vary: str | None) -> list[tuple[str, SynthSpec]]:
    """``KEY=V1,V2,...``: one spec per value of the synth option KEY (values read as TOML, else text)."""
    if not vary:
        return [("", spec)]
    key, sep, values = vary.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--vary wants KEY=V1,V2 (a synth option and its values), not {vary!r}")
    out = []
    for text in (v.strip() for v in values.split(",") if v.strip()):
        try:
            value: Any = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out.append((f"{key.strip()} = {text}", dataclasses.replace(spec, options={**spec.options, key.strip(): value})))
    return out


def bench_render(spec: SynthSpec, *, workers: list[int], renders: int = 96, seconds: float = 1.0, seed: int = 0, vary: str | None = None,
                 config: str | None = None, out: str | Path | None = None) -> str:
    """Benchmarks ``spec`` on each worker count (and each ``vary`` setting, on the same patches);
    returns (and writes to ``out``) a markdown table."""
    settings = vary_specs(spec, vary)
    job, units = _bench_job(spec, renders, seconds, seed)
    rows = []
    for label, variant in settings:
        variant_job = dataclasses.replace(job, spec=variant)
        base_rate = None
        for w in workers:
            wall, evals = _measure(variant, variant_job, units, w)
            render_s = float(np.mean([e.render_s for e in evals]))
            score_s = float(np.mean([e.score_s for e in evals]))
            rate = renders / wall
            base_rate = base_rate or rate / workers[0]
            overhead = max(wall * w / renders - render_s - score_s, 0.0)
            silent = float(np.mean([_silent(e) for e in evals]))
            rows.append((label, w, rate, rate / base_rate, rate / (base_rate * w), render_s * 1e3, score_s * 1e3, overhead * 1e3,
                         overhead / render_s, silent))
    command = (f"`hybridmatch bench-render --synth {_synth_arg(spec)} --config {config or spec.space.name} --workers {','.join(map(str, workers))} "
               f"--renders {renders} --seconds {seconds}" + (f" --vary {vary}" if vary else "") + "`")
    lines = [
        f"# bench-render: {spec.backend} / {spec.space.name}",
        "",
        f"{command} on {platform.node() or 'this machine'} ({platform.processor() or platform.machine()}); "
        f"{renders} prior-sampled patches, {seconds} s renders, batches of max({ROUND}, workers) (as `run`), one candidate per task"
        + (", every setting on the same patches" if vary else "") + ". silent: the share of renders with no sound.",
        "",
        "| " + ("setting | " if vary else "") + "workers | renders/s | speed-up | parallel efficiency | synth.render ms | scoring ms "
        "| overhead ms/render | overhead / render time | silent |",
        "|" + ("---|" if vary else "") + "---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [("| " + (f"{lab} | " if vary else "") + f"{w} | {r:.2f} | {s:.2f}x | {e:.0%} | {rm:.1f} | {sm:.1f} | {om:.1f} | {o:.1%} | {si:.0%} |")
              for lab, w, r, s, e, rm, sm, om, o, si in rows]
    text = "\n".join(lines) + "\n"
    if out:
        atomic_write(out, text.encode())
    return text


N_CANDIDATES = 64  # what a strategy without search (cnf-only) is measured with against random


def _label(strategy: Strategy, n: int) -> str:
    from .ml.proposer import OVERSAMPLE  # imports torch: only once a proposer is timed

    options = strategy.proposer.options
    if options.get("surrogate"):
        return f"`{strategy.proposer.name}` + surrogate, {n} of {n * options.get('oversample', OVERSAMPLE)} (`{strategy.name}`)"
    return f"`{strategy.proposer.name}`, {n} proposal{'s' if n > 1 else ''} (`{strategy.name}`)"


def bench_propose(specs: list[SynthSpec], strategies: list[Strategy], *, repeats: int = 5, threads: int = 2, seconds: float = 1.0,
                  seed: int = 0, out: str | Path | None = None) -> str:
    """Times each strategy's proposal for each spec on one target (a render of a prior patch),
    through the same ``propose`` call and ``[proposer.options]`` a search makes: ``n_proposals``
    candidates, or 64 for a strategy that renders only proposals. The first call, which loads the
    checkpoints, is timed apart; the table gives the median of ``repeats`` calls after it, and that
    time as a number of evaluations (the median render + scoring of 8 prior patches, in the same
    process), which is what the proposer's time is worth to a search at a fixed render budget."""
    import torch

    torch.set_num_threads(threads)
    rows = []
    for spec in specs:
        job, units = _bench_job(spec, 9, seconds, seed)
        evaluation = float(np.median([e.render_s + e.score_s for e in evaluate_units(job, units[1:])]))
        for strategy in strategies:
            n = strategy.proposer.n if strategy.optimizer.name != "none" else N_CANDIDATES
            times = []
            for r in range(repeats + 1):
                t0 = time.perf_counter()
                got = propose(strategy.proposer.name, spec.space, n, np.random.default_rng(seed + r), job=job, **strategy.proposer.options)
                times.append(time.perf_counter() - t0)
            assert got.shape == (n, spec.space.dim)
            first, median = times[0], float(np.median(times[1:]))
            rows.append((spec.space.name, _label(strategy, n), first, median, max(times[1:]), median / evaluation, evaluation * 1e3))
    lines = [
        "# bench-propose: what a proposer costs per target",
        "",
        f"`hybridmatch bench-propose --synth {','.join(_synth_arg(s) for s in specs)} --strategies {','.join(s.name for s in strategies)} "
        f"--repeats {repeats} --threads {threads} --seconds {seconds}` on {platform.node() or 'this machine'} "
        f"({platform.processor() or platform.machine()}), torch {torch.__version__} with {threads} threads. One target per synth "
        f"(a {seconds} s render of a prior patch at note 60), the shipped checkpoints, each strategy's own proposer options. "
        f"`first` includes loading the checkpoints; `median` and `max` are over {repeats} calls after it, each with the "
        "conditioning features computed from the audio again, as a run does. `in evaluations` is the median call over the "
        "median in-process evaluation (render and scoring against the target, as a worker does) of 8 prior patches.",
        "",
        "| config | proposal | first s | median s | max s | in evaluations | one evaluation ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {c} | {lab} | {f:.3f} | {m:.3f} | {mx:.3f} | {k:.1f} | {rm:.1f} |" for c, lab, f, m, mx, k, rm in rows]
    text = "\n".join(lines) + "\n"
    if out:
        atomic_write(out, text.encode())
    return text
