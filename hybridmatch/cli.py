"""The ``hybridmatch`` command: a thin click group. Each command parses, calls one library function,
prints, and returns. Any :class:`HybridMatchError` becomes one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ._cli_common import OneLineErrors, friendly, int_list
from .catalog import resolve_strategy, resolve_synth
from .cli_bench import add_bench_commands
from .errors import ConfigError


def _auto(value: str, kind: type, flag: str) -> Any:
    if value == "auto":
        return None
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{flag} must be 'auto' or a number, got {value!r}") from None


@click.group(cls=OneLineErrors)
@click.version_option(package_name="hybridmatch")
def main() -> None:
    """Reverse sound design: find synth patches that recreate a recording."""


def _match_options(out_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options ``run`` and ``batch`` share (batch takes the same options as run)."""
    options = [
        click.option("--synth", default="vital", show_default=True, help="vital, dexed, toy, vst3:PATH.vst3 (or module:Class)"),
        click.option("--config", default=None, help="synth config name in configs/synths, or a .toml path"),
        click.option("--strategy", default="auto", show_default=True,
                     help="strategy name in strategies/, or a .toml path; auto: cnf-cma (cnf-latent-sur for dexed), cma where no checkpoint ships"),
        click.option("--budget", default=None, type=int, help="synth renders per target  [default: 500; with --time, no cap]"),
        click.option("--time", "time_limit", default=None, type=float,
                     help="seconds for the whole match, instead of a render count (the renders then depend on the machine's speed)"),
        click.option("--workers", default=max(1, min(os.cpu_count() or 1, 8)), show_default="CPU cores", type=int,
                     help="render workers (local processes, or LocalCluster workers with --backend dask and no --scheduler)"),
        click.option("--keep", default=8, show_default=True, type=int, help="size of the returned set"),
        click.option("--note", default="auto", help="MIDI note, or auto (pYIN)"),
        click.option("--duration", default="auto", help="note-on seconds, or auto"),
        click.option("--notes", default="one", show_default=True,
                     help="one: a single note; phrase: transcribe the recording and match every patch playing its notes; "
                          "auto: transcribe, and where it finds two notes or more let probe renders choose phrase or one note; or a MIDI file of the notes played"),
        click.option("--refine", type=click.Choice(["length", "note+length", "note", "off"]), default="length", show_default=True,
                     help="what to re-check by rendering probes when it was estimated: the held length (x0.7, x0.85, x1.2), "
                          "the note (an octave either way), both, or nothing; at most a quarter of the budget, skipped below it"),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--out", default=None, help=out_help),
        click.option("--max-seconds", default=60.0, show_default=True, type=float, help="longest target accepted"),
        click.option("--backend", type=click.Choice(["loky", "dask"]), default="loky", show_default=True, help="where renders run"),
        click.option("--scheduler", default=None, help="dask scheduler address (tcp://host:8786); default: a LocalCluster"),
        click.option("--quiet", is_flag=True, help="no progress bars"),
        click.option("--force", is_flag=True, help="replace the results of another job in the output folder (else refused)"),
    ]

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


@main.command()
@click.argument("target")
@_match_options("output folder [default: ./hybridmatch-out/<target stem>]")
@friendly
def run(target: str, synth: str, config: str | None, strategy: str, budget: int | None, time_limit: float | None, workers: int, keep: int, note: str,
        duration: str, notes: str, refine: str, seed: int, out: str | None, max_seconds: float, backend: str, scheduler: str | None, quiet: bool,
        force: bool) -> None:
    """Match TARGET (wav/flac/aiff/mp3) and write presets, renders and results.json."""
    from .api import match

    matched = match(target, synth=synth, config=config, strategy=strategy, budget=budget, time=time_limit, workers=workers, keep=keep, seed=seed, out=out,
                    note=_auto(note, int, "--note"), duration=_auto(duration, float, "--duration"), notes=notes, refine=refine, max_seconds=max_seconds,
                    backend=backend, scheduler=scheduler, quiet=quiet, force=force)
    res, out_dir = matched.results, matched.out
    analysis = res["analysis"]
    refined = f"; estimated note {analysis['estimated']['note']}, {analysis['estimated']['duration']:.2f} s" if analysis.get("refined") else ""
    from .search import NEAR_BEST  # imported by the match already: after it, so the workers start first

    near = f", {res['near_best']} within {NEAR_BEST}x of #1's MSS" if "near_best" in res else ""
    played = (f"a phrase of {len(res['phrase']['notes'])} notes, {res['phrase']['source']}, in notes.mid" if "phrase" in res
              else f"note {res['note']}, {res['duration']:.2f} s held{refined}")
    renders = f"{res['renders']} candidates, {res['phrase']['synth_renders']} synth renders" if "phrase" in res else f"{res['renders']} renders"
    click.echo(f"{len(res['candidates'])} recipes found{near} for {res['target']} ({played}) "
               f"in {renders} ({res['strategy']}), {res['wall_s']:.1f} s -> {out_dir}")
    for c in res["candidates"]:
        o = c["objectives"]
        click.echo(f"  {c['rank']:2d}  mss {o['mss']:6.2f}  wmfcc {o['wmfcc']:6.2f}  sot {o['sot']:.4f}  "
                   f"rms {c['rms_cosine']:.3f}  {c['preset']}")
    if "reference" in res:
        o = res["reference"]["objectives"]
        click.echo(f"  known answer ({Path(target).with_suffix('.json').name}) under this analysis: mss {o['mss']:6.2f}  wmfcc {o['wmfcc']:6.2f}")
    for skipped in res["skipped"]:
        click.echo(f"hybridmatch: skipped {skipped}", err=True)
    click.echo(f"report: {out_dir / 'report.html'}")


@main.command()
@click.argument("folder")
@_match_options("output tree [default: ./hybridmatch-out/<folder name>]")
@friendly
def batch(folder: str, synth: str, config: str | None, strategy: str, budget: int | None, time_limit: float | None, workers: int, keep: int,
          note: str, duration: str, notes: str, refine: str, seed: int, out: str | None, max_seconds: float, backend: str, scheduler: str | None,
          quiet: bool, force: bool) -> None:
    """Match every audio file under FOLDER into a mirrored output tree (resumable; bad files are reported, not fatal)."""
    from .batch import batch as run_batch

    spec = resolve_synth(synth, config)
    strat = resolve_strategy(strategy, spec)
    out_dir = Path(out) if out else Path("hybridmatch-out") / Path(folder).resolve().name
    rows = run_batch(folder, spec, strat, out=out_dir, budget=budget, time_limit=time_limit, workers=workers, keep=keep, seed=seed,
                     note=_auto(note, int, "--note"), duration=_auto(duration, float, "--duration"), notes=notes, max_seconds=max_seconds,
                     backend=backend, scheduler=scheduler, quiet=quiet, refine=refine, force=force)
    bad = [r for r in rows if r["status"] != "done"]
    for r in rows:
        if r["status"] == "done":
            click.echo(f"  done   {r['file']}: mss {r['mss']:.2f} wmfcc {r['wmfcc']:.2f} -> {r['out']}")
        else:
            click.echo(f"  {r['status']:6s} {r['file']}: {r.get('error', '')}")
    click.echo(f"{len(rows) - len(bad)} of {len(rows)} targets matched -> {out_dir} (index.html, batch.json)")


@main.command()
@click.argument("target")
@click.argument("other")
@click.option("--sample-rate", default=44100, show_default=True, type=int)
@click.option("--max-seconds", default=60.0, show_default=True, type=float)
@friendly
def score(target: str, other: str, sample_rate: int, max_seconds: float) -> None:
    """Print MSS, wMFCC, SOT, RMS cosine and MFCCD of OTHER against TARGET as one JSON object."""
    from .audio import load_audio
    from .objectives import score_files

    a, ra = load_audio(target, max_seconds=max_seconds)
    b, rb = load_audio(other, max_seconds=max_seconds)
    click.echo(json.dumps(score_files(a, ra, b, rb, sample_rate=sample_rate)))


@main.command()
@click.argument("target")
@click.option("--out", default=None, help="MIDI file to write  [default: <target stem>.notes.mid in the current folder]")
@click.option("--max-seconds", default=60.0, show_default=True, type=float)
@friendly
def transcribe(target: str, out: str | None, max_seconds: float) -> None:
    """Write the notes of a monophonic recording (onset, pitch, held length, velocity) as a MIDI file."""
    from .audio import load_audio
    from .errors import TargetError
    from .phrase import note_name, write_midi
    from .transcribe import transcribe as notes_of

    audio, rate = load_audio(target, max_seconds=max_seconds)
    notes = notes_of(audio, rate)
    if not notes:
        raise TargetError(f"no pitched notes found in {target}")
    path = write_midi(notes, out or f"{Path(target).stem}.notes.mid")
    for n in notes:
        click.echo(f"{n.onset:7.3f} s  {note_name(n.pitch):4s} (MIDI {n.pitch:3d})  held {n.duration:.3f} s  velocity {n.velocity}")
    click.echo(f"{len(notes)} notes -> {path}")


@main.command()
@click.option("--synth", default="vital", show_default=True)
@click.option("--config", default=None)
@click.option("--seed", required=True, type=int, help="prior draw; keep seeds you test on out of tuning")
@click.option("--note", default=60, show_default=True, type=int)
@click.option("--duration", default=0.6, show_default=True, type=float, help="note-on seconds")
@click.option("--seconds", default=1.0, show_default=True, type=float, help="rendered seconds")
@click.option("--phrase", default=0, type=int, help="play a random line of this many notes (2-8 s) instead of one note; its MIDI goes next to it")
@click.option("--out", required=True, help="WAV path; the true preset and params.json go next to it")
@friendly
def sample(synth: str, config: str | None, seed: int, note: int, duration: float, seconds: float, phrase: int, out: str) -> None:
    """Render a random patch from the config's priors (a target with a known answer)."""
    from .sampling import save_phrase, save_sample

    spec = resolve_synth(synth, config)
    if phrase:
        click.echo(" ".join(str(p) for p in save_phrase(spec, seed=seed, count=phrase, out=out)))
        return
    paths = save_sample(spec, seed=seed, note=note, duration=duration, seconds=seconds, out=out)
    click.echo(" ".join(str(p) for p in paths))
    floor = json.loads(paths[-1].read_text())["noise_floor"]
    click.echo("re-render noise floor: " + "  ".join(f"{k} {v:.4g}" for k, v in floor.items()))


@main.command()
@click.option("--targets", required=True, help="folder of target WAVs (each may have a <stem>.json with note/duration)")
@click.option("--strategies", required=True, help="comma-separated strategy names")
@click.option("--budgets", default="100,500", show_default=True, callback=int_list)
@click.option("--seeds", default=3, show_default=True, type=int)
@click.option("--synth", default="vital", show_default=True)
@click.option("--config", default=None)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--out", required=True, help="results folder, e.g. results/hybrid-vs-search/vital")
@click.option("--quiet", is_flag=True)
@click.option("--report-only", is_flag=True, help="summarize the finished runs without running the rest")
@friendly
def compare(targets: str, strategies: str, budgets: list[int], seeds: int, synth: str, config: str | None,
            workers: int, out: str, quiet: bool, report_only: bool) -> None:
    """Run every strategy x target x seed at the largest budget; read smaller budgets off the anytime
    curve; write summary.md and runs.csv (resumable)."""
    from .compare import compare as run_compare

    spec = resolve_synth(synth, config)
    strats = [resolve_strategy(s.strip(), spec) for s in strategies.split(",") if s.strip()]
    summary = run_compare(Path(targets), spec, strats, budgets=budgets, seeds=seeds, workers=workers, out=Path(out), quiet=quiet, report_only=report_only)
    click.echo(summary)


@main.command()
@click.option("--synth", default="vital", show_default=True)
@click.option("--config", default=None)
@click.option("--n", "n", required=True, type=int, help="patches to keep (near-silent renders are rejected and replaced)")
@click.option("--out", required=True, help="dataset folder (resumes the complete shards already there)")
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--shard", default=1024, show_default=True, type=int, help="patches per .npy shard")
@click.option("--augment", is_flag=True, help="degrade the conditioning audio: noise, reverb, EQ tilt, gain")
@click.option("--min-lufs", default=-55.0, show_default=True, type=float)
@click.option("--quiet", is_flag=True)
@friendly
def dataset(synth: str, config: str | None, n: int, out: str, workers: int, seed: int, shard: int, augment: bool, min_lufs: float, quiet: bool) -> None:
    """Render random patches from the config's priors into a CNF training set."""
    from .ml import Augment, build_dataset
    from .progress import Progress

    spec = resolve_synth(synth, config)
    progress = Progress(n, quiet=quiet, label="dataset")

    def report(kept: int, total: int, rate: float) -> None:
        eta = (total - kept) / max(rate, 1e-9) * 1.1
        progress.update(kept, f"{rate:.1f} renders/s, ETA {eta / 60:.1f} min")

    try:
        stats = build_dataset(spec, n=n, out=out, workers=workers, seed=seed, shard=shard, augment=Augment() if augment else None,
                              min_lufs=min_lufs, on_progress=report)
    finally:
        progress.close()
    click.echo(f"{out}: {stats['n']} patches, {stats['rejected']} rejected ({stats['reject_rate']:.1%}), "
               f"{stats['renders_per_s_this_run']} renders/s this run")


@main.command()
@click.option("--data", required=True, help="dataset folder from `hybridmatch dataset`")
@click.option("--out", required=True, help="checkpoint path (.pt); <out>.state holds the resumable optimizer state")
@click.option("--synth", default="vital", show_default=True)
@click.option("--config", default=None)
@click.option("--model", "kind", default="dit", show_default=True, type=click.Choice(["dit", "mlp", "regress", "surrogate"]),
              help="a flow (dit, mlp), the regression baseline, or a surrogate of the synth (patch → log-mel) that ranks a flow's samples")
@click.option("--steps", default=2000, show_default=True, type=int)
@click.option("--batch", default=128, show_default=True, type=int)
@click.option("--lr", default=3e-4, show_default=True, type=float)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]))
@click.option("--workers", default=2, show_default=True, type=int, help="render workers for the held-out evaluation")
@click.option("--eval-items", default=16, show_default=True, type=int)
@click.option("--d-model", default=96, show_default=True, type=int, help="transformer width (dit)")
@click.option("--layers", default=4, show_default=True, type=int, help="transformer / residual blocks")
@click.option("--tokens", default=12, show_default=True, type=int, help="Param2Tok tokens (dit)")
@click.option("--level", is_flag=True, help="condition on the clip's RMS level too (needs a dataset that records it)")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--quiet", is_flag=True)
@friendly
def train(data: str, out: str, synth: str, config: str | None, kind: str, steps: int, batch: int, lr: float, device: str,
          workers: int, eval_items: int, d_model: int, layers: int, tokens: int, level: bool, seed: int, quiet: bool) -> None:
    """Train the flow (dit or mlp), the regression baseline or a surrogate; resumes from <out>.state."""
    from .ml.train import train as run_train

    spec = resolve_synth(synth, config)
    summary = run_train(data, out, spec, kind=kind, steps=steps, batch=batch, lr=lr, device=device, workers=workers,
                        eval_items=eval_items, seed=seed, quiet=quiet, model_options={"d_model": d_model, "layers": layers, "tokens": tokens, "scalars": 3 if level else 2})
    ev = summary["held_out_eval"]
    picked = f"the surrogate's top {ev['n']} of {ev['pool']} (rank correlation {ev['spearman']:.2f})" if kind == "surrogate" else f"best-of-{ev['n']}"
    click.echo(f"{out}: {summary['bytes'] / 1e6:.1f} MB, {summary['steps']} steps in {summary['wall_s']:.0f} s; held-out {picked} "
               f"MSS {ev['model_best']['mss']:.2f} (prior {ev['prior_best']['mss']:.2f}), wMFCC {ev['model_best']['wmfcc']:.2f} "
               f"(prior {ev['prior_best']['wmfcc']:.2f})")


@main.command()
@click.argument("checkpoint")
@click.option("--data", required=True, help="the dataset folder the checkpoint was trained on")
@click.option("--synth", default="vital", show_default=True)
@click.option("--config", default=None)
@click.option("--items", default=24, show_default=True, type=int, help="held-out items to score")
@click.option("--n", default=32, show_default=True, type=int, help="model samples (and prior samples) per item")
@click.option("--guidance", default="2.0", show_default=True, help="comma-separated guidance weights, scored side by side")
@click.option("--tail", default=None, type=float, help="seconds the target is rendered after note-off (default: the config's release)")
@click.option("--split-seed", default=0, show_default=True, type=int, help="the --seed `train` used (it fixes the held-out split)")
@click.option("--workers", default=2, show_default=True, type=int)
@friendly
def evaluate(checkpoint: str, data: str, synth: str, config: str | None, items: int, n: int, guidance: str, tail: float | None,
             split_seed: int, workers: int) -> None:
    """Score a checkpoint's samples on held-out dataset items by audio metrics, next to prior samples:
    the best of N and the mean of N, per guidance weight."""
    from .ml.checkpoint import load_checkpoint
    from .ml.dataset import FlowData
    from .ml.evaluate import HOLDOUT
    from .ml.evaluate import evaluate as run_evaluate

    spec = resolve_synth(synth, config)
    try:
        weights = [float(g) for g in guidance.split(",")]
    except ValueError:
        raise ConfigError(f"--guidance: expected comma-separated numbers, got {guidance!r}") from None
    ckpt = load_checkpoint(checkpoint, spec.space)  # a missing or foreign file is a one-line ConfigError
    dataset = FlowData(Path(data))
    held = dataset.split(HOLDOUT, seed=split_seed)[1][:items]
    click.echo(f"{checkpoint} on {len(held)} held-out items of {data}, {n} samples each (MSS / wMFCC, median over items)")
    click.echo("| guidance | model best | prior best | model mean | prior mean |\n|---:|---:|---:|---:|---:|")
    for g in weights:
        r = run_evaluate(ckpt, spec, dataset, held, n=n, workers=workers, seed=1, guidance=g, tail=tail)
        cells = [f"{r[k]['mss']:.2f} / {r[k]['wmfcc']:.2f}" for k in ("model_best", "prior_best", "model", "prior")]
        click.echo(f"| {g:g} | " + " | ".join(cells) + " |")


@main.command()
@click.argument("extra", nargs=-1)
@click.option("--out", default=None, help="also write the table here (e.g. results/training.md)")
@friendly
def checkpoints(extra: tuple[str, ...], out: str | None) -> None:
    """List the shipped checkpoints (and any EXTRA .pt files): how each was trained and how it scored
    on held-out items."""
    from ._io import atomic_write
    from .ml import CHECKPOINT_DIR
    from .ml.checkpoint import checkpoint_report

    missing = [p for p in extra if not Path(p).exists()]
    if missing:
        raise ConfigError(f"checkpoint not found: {missing[0]}")
    table = checkpoint_report(sorted(CHECKPOINT_DIR.glob("*.pt")) + [Path(p) for p in extra])
    if out:
        atomic_write(out, table.encode())
    click.echo(table)


@main.command()
@click.argument("plugin")
@click.option("--refresh", is_flag=True, help="ignore the cached description")
@friendly
def describe(plugin: str, refresh: bool) -> None:
    """Print a ParamSpace TOML skeleton for a VST3 instrument (cached per plugin file)."""
    from .catalog import plugin_config
    from .synths._vst3 import describe as describe_plugin

    click.echo(describe_plugin(plugin, refresh=refresh), nl=False)
    if (curated := plugin_config(plugin)) is not None:
        click.echo(f"a curated config ships for this plugin ({curated.stem}): --synth vst3:{plugin} uses it", err=True)


add_bench_commands(main)

if __name__ == "__main__":  # pragma: no cover
    main()
