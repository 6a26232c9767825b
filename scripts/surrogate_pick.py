"""What a surrogate's pick is worth, and what its level term does: for each target in a folder, DRAW
patches (samples of the shipped flow, or prior samples with --pool prior) are ranked by the shipped
surrogate's predicted log-mel L1, plus WEIGHT times its predicted level error (scaled units: 20 dB = 1),
for each weight; the N ranked first are rendered, as are the first N drawn (no ranking). Prints the
median over targets of the best of each N: its MSS and wMFCC (best by search loss), and the lowest
MSS among the N. The shipped score is weight 0 (``Surrogate.score``).

    python scripts/surrogate_pick.py SYNTH CONFIG TARGETS [--pool flow|prior] [--weights 0,0.03,0.1,0.3] [--draw 512] [--n 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from hybridmatch.cli import resolve_synth
from hybridmatch.compare import _targets, load_compare_target
from hybridmatch.ml.features import level_db, logmel, scalars
from hybridmatch.ml.proposer import load_for
from hybridmatch.render import RenderJob, RenderPool


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("synth")
    ap.add_argument("config")
    ap.add_argument("targets")
    ap.add_argument("--pool", choices=["flow", "prior"], default="flow")
    ap.add_argument("--weights", default="0,0.03,0.1,0.3")
    ap.add_argument("--draw", type=int, default=512)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    spec = resolve_synth(args.synth, args.config)
    flow, critic = load_for(spec.space, "cnf"), load_for(spec.space, "surrogate")
    weights = [float(w) for w in args.weights.split(",")]
    rows: dict[str, list[tuple[float, float, float]]] = {"unranked": [], **{f"weight {w:g}": [] for w in weights}}
    with RenderPool(args.workers) as pool:
        for i, path in enumerate(_targets(Path(args.targets))):
            t = load_compare_target(path, spec)
            job = RenderJob(spec, t.audio, t.note, t.duration)
            if args.pool == "flow":
                units = flow.propose(job.target, spec.sample_rate, job.note, job.duration, args.draw, seed=i)
            else:
                units = spec.space.sample(np.random.default_rng(i), args.draw)
            mel = torch.from_numpy(logmel(job.target, spec.sample_rate))[None]
            sc = torch.from_numpy(scalars(job.note, job.duration, level_db(job.target, spec.sample_rate)))[None]
            x = torch.from_numpy(2.0 * spec.space.to_model(units) - 1.0).float()
            with torch.inference_mode():
                pred, level = critic.model(x, sc.expand(len(units), -1))
            d_mel = (pred - mel).abs().mean(dim=(1, 2)).numpy()
            d_level = (level - sc[:, 2]).abs().numpy()
            picks = {"unranked": np.arange(args.n), **{f"weight {w:g}": np.argsort(d_mel + w * d_level, kind="stable")[: args.n] for w in weights}}
            for name, pick in picks.items():
                evals = pool.evaluate(job, units[pick])
                best = evals[int(np.argmin([e.loss for e in evals]))]
                rows[name].append((best.objectives["mss"], best.objectives["wmfcc"], min(e.objectives["mss"] for e in evals)))
    print(f"{args.targets}: {args.n} of {args.draw} {args.pool} samples, median over {len(rows['unranked'])} targets\n")
    print("| pick | best MSS | best wMFCC | lowest MSS |\n|---|---:|---:|---:|")
    for name, vals in rows.items():
        a = np.array(vals)
        print(f"| {name} | {np.median(a[:, 0]):.2f} | {np.median(a[:, 1]):.2f} | {np.median(a[:, 2]):.2f} |")


if __name__ == "__main__":
    main()
