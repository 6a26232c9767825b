"""How well can a model rank the candidates of one CMA-ES generation before they are rendered?

For each run of a `hybridmatch compare` folder, the renders of the mode that took most of the
budget are cut into generations (consecutive groups of ``--popsize``). Each generation from the
fourth on is ranked two ways and scored by Kendall's tau against the rendered losses:
- pycma's ``LQModel`` (the model of lq-CMA-ES, ``cma.fitness_models``) fit on the mode's earlier
  renders, as lq-CMA-ES would fit it;
- the config's shipped surrogate (patch -> log-mel), frozen, scoring each patch against the target.
lq-CMA-ES renders a generation's candidates in the model's order until its tau reaches 0.85, so a
model that ranks near tau 0 saves nothing.

    python scripts/surrogate_tau.py /tmp/cmp --strategy cnf-cma --targets /tmp/dev-vital --synth vital --out results/screened-search/tau.md
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from markdown_out import emit
from scipy.stats import kendalltau

from hybridmatch.audio import load_target
from hybridmatch.catalog import resolve_synth
from hybridmatch.ml.proposer import load_surrogate
from hybridmatch.search import Archive


def generations(archive: Path, popsize: int) -> tuple[np.ndarray, np.ndarray]:
    """(units, losses) of the busiest search mode's renders, in the order they were told."""
    run = Archive.load(archive)
    searched = [i for i, o in enumerate(run.origins) if not o.startswith(("proposal", "probe"))]
    mode = Counter(run.origins[i] for i in searched).most_common(1)[0][0]
    kept = [i for i in searched if run.origins[i] == mode]
    kept = kept[: len(kept) // popsize * popsize]
    return np.array([run.entries[i].unit for i in kept]), run.losses[kept]


def taus(units: np.ndarray, losses: np.ndarray, score: np.ndarray, popsize: int) -> tuple[list[float], list[float]]:
    from cma.fitness_models import LQModel

    lq, sur = [], []
    for start in range(3 * popsize, len(units), popsize):
        model = LQModel()
        for x, f in zip(units[:start], losses[:start], strict=True):
            model.add_data_row(x, f)
        gen = slice(start, start + popsize)
        lq.append(float(kendalltau([model.eval(x) for x in units[gen]], losses[gen])[0]))
        sur.append(float(kendalltau(score[gen], losses[gen])[0]))
    return lq, sur


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--strategy", default="cnf-cma")
    ap.add_argument("--targets", type=Path, required=True)
    ap.add_argument("--synth", default="vital")
    ap.add_argument("--config", default=None)
    ap.add_argument("--popsize", type=int, default=12)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    spec = resolve_synth(args.synth, args.config)
    critic = load_surrogate(spec.space, True)
    lines = ["| run | generations | LQModel tau, median | surrogate tau, median |", "|---|---:|---:|---:|"]
    every: dict[str, list[float]] = {"lq": [], "sur": []}
    for archive in sorted((args.folder / "runs" / args.strategy).glob("*/s*/archive.jsonl")):
        if not (archive.parent / "done.json").exists():
            continue
        name = archive.parent.parent.name
        meta = json.loads((args.targets / f"{name}.json").read_text())
        target = load_target(args.targets / f"{name}.wav", sample_rate=spec.sample_rate, note=meta["note"], duration=meta["duration"], trim=False)
        units, losses = generations(archive, args.popsize)
        score = critic.score(target.audio, target.sample_rate, target.note, target.duration, units)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # LQModel warns while it has too few points for its full model
            lq, sur = taus(units, losses, score, args.popsize)
        every["lq"] += lq
        every["sur"] += sur
        lines.append(f"| {name} {archive.parent.name} | {len(lq)} | {np.nanmedian(lq):.2f} | {np.nanmedian(sur):.2f} |")
    lines.append(f"| all | {len(every['lq'])} | **{np.nanmedian(every['lq']):.2f}** | **{np.nanmedian(every['sur']):.2f}** |")
    head = [f"# Ranking a generation before rendering it: `{args.strategy}` runs in `{args.folder}`", "",
            f"`python scripts/surrogate_tau.py {args.folder} --strategy {args.strategy} --targets {args.targets} --synth {args.synth}`", "",
            "Kendall's tau between each model's ranking of a CMA-ES generation and the rendered losses (1: the same order, 0: "
            "no relation), from the fourth generation of the busiest mode on. lq-CMA-ES renders in its model's order until tau "
            "reaches 0.85.", ""]
    emit([*head, *lines], args.out)


if __name__ == "__main__":
    main()
