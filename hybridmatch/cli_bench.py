"""The measuring commands: ``bench-render``, ``bench-propose``, ``bench-memory``, ``bench-run`` and
``crosscheck``. Each parses, calls one library function, prints the table it wrote."""

from __future__ import annotations

from pathlib import Path

import click

from ._cli_common import friendly, int_list
from .catalog import resolve_strategy, resolve_synth
from .errors import ConfigError

__all__ = ["add_bench_commands"]


@click.command("bench-render")
@click.option("--synth", default="vital", show_default=True)
@click.option("--config", default=None)
@click.option("--workers", default="1,2", show_default=True, callback=int_list)
@click.option("--renders", default=96, show_default=True, type=int, help="renders per setting")
@click.option("--seconds", default=1.0, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--vary", default=None, help="KEY=V1,V2: measure each value of a synth option side by side, on the same patches")
@click.option("--out", default="results/bench-render.md", show_default=True)
@friendly
def bench_render(synth: str, config: str | None, workers: list[int], renders: int, seconds: float, seed: int, vary: str | None, out: str) -> None:
    """Measure renders/s, parallel efficiency and per-render overhead; writes a markdown table."""
    from .bench import bench_render as bench

    spec = resolve_synth(synth, config)
    click.echo(bench(spec, workers=workers, renders=renders, seconds=seconds, seed=seed, vary=vary, config=config, out=out))


@click.command("bench-propose")
@click.option("--synth", default="vital,dexed", show_default=True, help="comma-separated synths, measured side by side")
@click.option("--strategies", default="cnf-cma,cnf-only,regress-cma", show_default=True, help="whose proposals to time")
@click.option("--repeats", default=5, show_default=True, type=int)
@click.option("--threads", default=2, show_default=True, type=int, help="torch threads (the issue's budget: 2 CPU cores)")
@click.option("--seconds", default=1.0, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default="results/bench-propose.md", show_default=True)
@friendly
def bench_propose(synth: str, strategies: str, repeats: int, threads: int, seconds: float, seed: int, out: str) -> None:
    """Time what each strategy's proposer costs per target (the flow's samples, the surrogate's pick, the
    regression estimate), in seconds and in evaluations."""
    from .bench import bench_propose as bench

    if repeats < 1 or threads < 1:
        raise ConfigError("--repeats and --threads must be at least 1")
    specs = [resolve_synth(s.strip(), None) for s in synth.split(",") if s.strip()]
    strats = [resolve_strategy(s.strip(), specs[0] if specs else None) for s in strategies.split(",") if s.strip()]
    click.echo(bench(specs, strats, repeats=repeats, threads=threads, seconds=seconds, seed=seed, out=out))


@click.command("bench-memory")
@click.option("--synth", default="dexed", show_default=True)
@click.option("--config", default=None)
@click.option("--strategy", default="cma", show_default=True)
@click.option("--budgets", default="2000,20000", show_default=True, callback=int_list)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--seconds", default=0.5, show_default=True, type=float, help="target length")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default="results/bench-memory.md", show_default=True)
@friendly
def bench_memory(synth: str, config: str | None, strategy: str, budgets: list[int], workers: int, seconds: float, seed: int, out: str) -> None:
    """Peak resident memory of a whole run at each budget, one run process per budget; writes a markdown table."""
    from .bench_memory import bench_memory as bench

    spec = resolve_synth(synth, config)
    resolve_strategy(strategy, spec)  # a bad name fails here, not in the first run
    click.echo(bench(spec, strategy, budgets, workers=workers, seconds=seconds, seed=seed, out=out))


@click.command("bench-run")
@click.option("--synth", default="vital,dexed", show_default=True, help="comma-separated synths, each measured as a whole run")
@click.option("--config", default="", help="comma-separated configs, one per synth (empty: the synth's default)")
@click.option("--workers", default="1,2", show_default=True, callback=int_list)
@click.option("--renders", default=300, show_default=True, type=int, help="the budget of each run")
@click.option("--seconds", default=1.5, show_default=True, type=float, help="the target's length")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--repeats", default=3, show_default=True, type=int, help="runs per cell (the table gives medians)")
@click.option("--strategy", default="cma", show_default=True, help="the strategy every run uses; auto: each synth's default")
@click.option("--out", default="results/bench-run.md", show_default=True)
@friendly
def bench_run(synth: str, config: str, workers: list[int], renders: int, seconds: float, seed: int, repeats: int, strategy: str,
              out: str) -> None:
    """Time a whole run per phase (imports, analysis, probes, search, verify, report) on 1 and 2
    workers, against the render pool alone; writes a markdown table."""
    from .bench_run import bench_run as bench

    synths = [s.strip() for s in synth.split(",") if s.strip()]
    configs = [c.strip() or None for c in config.split(",")] if config else [None] * len(synths)
    if len(configs) != len(synths):
        raise ConfigError(f"--config names {len(configs)} configs for {len(synths)} synths; give one per synth (empty for the default)")
    specs = [(resolve_synth(s, c), c) for s, c in zip(synths, configs, strict=True)]
    for spec, _ in specs:
        resolve_strategy(strategy, spec)  # an unknown strategy fails here, not in the first run
    click.echo(bench(specs, workers=workers, renders=renders, seconds=seconds, seed=seed, repeats=repeats, strategy=strategy, out=out))


@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("--synth", required=True, help="the engine that loads the presets, e.g. vst3:PATH/Dexed.vst3")
@click.option("--config", default=None)
@click.option("--out", default=None, help="also write the table here")
@friendly
def crosscheck(runs: tuple[str, ...], synth: str, config: str | None, out: str | None) -> None:
    """Load every returned preset of the finished runs under RUNS into another engine (a .vstpreset into
    a fresh plugin, a DX7 .syx into the Dexed VST3); compare its sound with the render the run scored."""
    from .crosscheck import crosscheck as check

    command = "hybridmatch crosscheck " + " ".join(runs) + f" --synth {synth}" + (f" --config {config}" if config else "")
    click.echo(check([Path(r) for r in runs], resolve_synth(synth, config), out=out, command=command))


def add_bench_commands(main: click.Group) -> None:
    """Adds the measuring commands to the ``hybridmatch`` group."""
    for command in (bench_render, bench_propose, bench_memory, bench_run, crosscheck):
        main.add_command(command)
