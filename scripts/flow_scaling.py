"""How does a flow's proposal quality grow with its training renders and steps?

Every checkpoint given is scored on the same held-out items of one evaluation dataset that none of
them trained on (a dataset made with another ``--seed``, so its patches are new draws from the same
prior): for each item the true patch is rendered, and the flow's ``--n`` samples and ``--n`` prior
samples are rendered and scored against it (``hybridmatch evaluate``). The prior samples are the
same for every checkpoint, so the rows differ only by the flow.

    hybridmatch dataset --synth vital --config vital-simple --n 1024 --seed 1 --out data/vital-simple-dev --workers 2
    python scripts/flow_scaling.py old.pt new.pt --data data/vital-simple-dev --synth vital --config vital-simple --out results/flow-scaling/checkpoints.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from markdown_out import emit

from hybridmatch.catalog import resolve_synth
from hybridmatch.ml.checkpoint import load_checkpoint
from hybridmatch.ml.dataset import FlowData
from hybridmatch.ml.evaluate import HOLDOUT, evaluate


def row(path: Path, scores: dict, info: dict) -> str:
    data, steps, batch = info.get("data", {}), info.get("steps", 0), info.get("batch", 0)
    epochs = steps * batch / data["train"] if data.get("train") else float("nan")
    cells = [f"`{path.name}`", str(data.get("n", "?")), str(steps), f"{epochs:.0f}", f"{info.get('wall_s', float('nan')) / 60:.0f}"]
    cells += [f"{scores[k]['mss']:.2f}" for k in ("model_best", "prior_best", "model")]
    cells += [f"{scores[k]['wmfcc']:.2f}" for k in ("model_best", "prior_best")]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, required=True, help="an evaluation dataset none of the checkpoints trained on")
    ap.add_argument("--synth", default="vital")
    ap.add_argument("--config", default=None)
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    spec = resolve_synth(args.synth, args.config)
    data = FlowData(args.data)
    held = data.split(HOLDOUT)[1][: args.items]
    lines = [
        f"# Flow scaling: {spec.space.name}",
        "",
        f"Each checkpoint's best of {args.n} samples on {len(held)} items of `{args.data}`, which no checkpoint trained on, next to",
        f"the best of the same {args.n} prior samples; `mean` is the mean over the flow's {args.n}. Medians over items, search loss picks the best.",
        "`renders` is the training dataset's size, `epochs` the passes over its training split, `min` the training wall time.",
        "",
        "| checkpoint | renders | steps | epochs | min | flow best MSS | prior best MSS | flow mean MSS | flow best wMFCC | prior best wMFCC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for path in args.checkpoints:
        ckpt = load_checkpoint(path, spec.space)
        lines.append(row(path, evaluate(ckpt, spec, data, held, n=args.n, workers=args.workers, seed=1), ckpt.info))
    emit(lines, args.out)


if __name__ == "__main__":
    main()
