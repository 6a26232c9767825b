"""Pilot: CMA-ES in the flow's noise space instead of the patch space, after the same 64 samples.

    python scripts/latent_pilot.py --synth dexed --targets results/hybrid-vs-search/targets-dexed \
        --runs results/hybrid-vs-search/dexed --sigma 0.5 --budget 200 --seed 0 > OUT.csv
    python scripts/latent_pilot.py --summarize OUT.csv ...     # medians and win rates per budget

For each target it redraws exactly the 64 flow samples `cnf-cma` rendered on that seed (checked
against the run's archive, whose losses it reuses, when this machine has it; else it renders them), then searches the starting noise x0 of the flow's
ODE with an elitist CMA-ES from the best sample's x0: every candidate is decoded by the flow
(conditioned on the target) into a patch, so the search stays on patches the flow finds plausible
and the discrete choices move with the flow's reading of the target. Prints, per target, the MSS /
wMFCC of the best-search-loss candidate at each budget, next to `cnf-cma`'s from `runs.csv`.
It led to ``[optimizer] latent`` and the `cnf-latent` strategy, which do the same inside the engine.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from hybridmatch.cli import resolve_strategy, resolve_synth
from hybridmatch.compare import load_compare_target
from hybridmatch.ml.proposer import load_for
from hybridmatch.render import RenderJob, RenderPool

BUDGETS = (50, 100, 200, 500)


def summarize(files: list[str]) -> None:
    for name in files:
        with open(name) as f:
            rows = list(csv.DictReader(f))
        print(f"{name}\n\n| budget | pairs | latent MSS / wMFCC | cnf-cma MSS / wMFCC | latent wins (MSS / wMFCC) | cma@500 MSS |\n|---:|---:|---|---|---|---:|")
        for b in BUDGETS:
            r = [x for x in rows if int(x["budget"]) == b]
            if not r:
                continue
            m, w, c, cw, cma = (np.array([float(x[k]) for x in r]) for k in ("mss", "wmfcc", "cnf_cma_mss", "cnf_cma_wmfcc", "cma500_mss"))
            print(f"| {b} | {len(r)} | {np.median(m):.2f} / {np.median(w):.1f} | {np.median(c):.2f} / {np.median(cw):.1f} "
                  f"| {np.mean(m < c):.0%} / {np.mean(w < cw):.0%} | {np.median(cma):.2f} |")
        print()


def main() -> None:
    if sys.argv[1:2] == ["--summarize"]:
        return summarize(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--synth", required=True)
    ap.add_argument("--targets", required=True)
    ap.add_argument("--runs", required=True, help="a compare folder with cnf-cma runs")
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    import nevergrad as ng

    spec = resolve_synth(args.synth, None)
    strategy = resolve_strategy("cnf-cma")
    ckpt = load_for(spec.space, "cnf")
    ref = {}
    with open(Path(args.runs) / "runs.csv") as f:
        for r in csv.DictReader(f):
            if r["strategy"] in ("cnf-cma", "cma") and int(r["seed"]) == args.seed:
                ref[(r["strategy"], r["target"], int(r["budget"]))] = (float(r["mss"]), float(r["wmfcc"]))
    files = sorted(Path(args.targets).glob("*.wav"))[: args.limit or None]
    out = csv.writer(sys.stdout)
    out.writerow(["target", "budget", "mss", "wmfcc", "cnf_cma_mss", "cnf_cma_wmfcc", "cma500_mss"])
    with RenderPool(2) as pool:
        for path in files:
            t = load_compare_target(path, spec)
            job = RenderJob(spec, t.audio, t.note, t.duration, dict(strategy.weights))
            latent = ckpt.latent(job.target, spec.sample_rate, job.note, job.duration)  # guidance 2, 16 steps, as cnf-cma
            decode = latent.decode
            x0 = latent.noise(strategy.n_proposals, int(np.random.default_rng(args.seed).integers(2**31)))
            units = decode(x0)
            archive = Path(args.runs) / "runs" / "cnf-cma" / path.stem / f"s{args.seed}" / "archive.jsonl"
            if archive.exists():  # archives are not committed; a run made on this machine has one
                recs = [r for r in map(json.loads, archive.open()) if "unit" in r][: len(units)]
                drift = float(np.abs(np.array([r["unit"] for r in recs]) - units).max())
                if drift > 1e-4:
                    print(f"# {path.stem}: samples differ from the run's by {drift:.2g}", file=sys.stderr)
                seen = [(r["loss"], r["objectives"]["mss"], r["objectives"]["wmfcc"]) for r in recs]
            else:
                seen = [(e.loss, e.objectives["mss"], e.objectives["wmfcc"]) for e in pool.evaluate(job, units)]
            best = int(np.argmin([s[0] for s in seen]))
            param = ng.p.Array(init=x0[best]).set_mutation(sigma=args.sigma)
            param.random_state.seed(args.seed)
            opt = ng.optimizers.ParametrizedCMA(popsize=12, elitist=True)(param, budget=args.budget - len(seen), num_workers=8)
            while len(seen) < args.budget:
                asked = [opt.ask() for _ in range(min(8, args.budget - len(seen)))]
                evals = pool.evaluate(job, decode(np.array([a.value for a in asked])))
                for a, e in zip(asked, evals, strict=True):
                    opt.tell(a, e.loss)
                    seen.append((e.loss, e.objectives["mss"], e.objectives["wmfcc"]))
            for b in BUDGETS:
                if b <= args.budget:
                    loss, mss, wmfcc = min(seen[:b])
                    c = ref.get(("cnf-cma", path.stem, b), (np.nan, np.nan))
                    out.writerow([path.stem, b, round(mss, 4), round(wmfcc, 4), c[0], c[1], ref.get(("cma", path.stem, 500), (np.nan,))[0]])
            sys.stdout.flush()


if __name__ == "__main__":
    main()
