"""Pairs two strategies' runs from `hybridmatch compare` outputs and prints, per budget, their medians
over the shared (target, seed) pairs and how often the first is lower, as markdown.

    python scripts/paired.py FOLDER:STRATEGY FOLDER:STRATEGY [--metric mss,wmfcc]

The two sides may come from different folders (a strategy rerun under a new definition next to the
old runs), so long as they share targets and seeds.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

from hybrid_claims import compare  # medians over the shared pairs and the left side's win rate


def side(spec: str, metrics: list[str]) -> dict[tuple[int, str, int], dict[str, float]]:
    """(budget, target, seed) -> metrics of one strategy in one compare folder."""
    folder, _, strategy = spec.rpartition(":")
    with open(Path(folder) / "runs.csv") as f:
        return {(int(r["budget"]), r["target"], int(r["seed"])): {m: float(r[m]) for m in metrics}
                for r in csv.DictReader(f) if r["strategy"] == strategy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("left")
    ap.add_argument("right")
    ap.add_argument("--metric", default="mss,wmfcc")
    args = ap.parse_args()
    metrics = args.metric.split(",")
    a, b = side(args.left, metrics), side(args.right, metrics)
    keys = sorted(set(a) & set(b))
    if not keys:
        raise SystemExit("paired.py: the two sides share no (budget, target, seed) runs")
    print(f"`{args.left}` (left) against `{args.right}` (right)\n")
    print("| budget | pairs | " + " | ".join(f"{m} left / right | left wins ({m})" for m in metrics) + " |")
    print("|---:|---:|" + "---|---:|" * len(metrics))
    # hybrid_claims.compare pairs (strategy, budget) -> (target, seed) -> metrics
    rows: dict = defaultdict(dict)
    for side_, d in (("left", a), ("right", b)):
        for (budget, target, seed), values in d.items():
            rows[side_, budget][target, seed] = values
    for budget in sorted({k[0] for k in keys}):
        cells = []
        for m in metrics:
            ma, mb, win, n = compare(rows, ("left", budget), ("right", budget), m)
            cells += [f"{ma:.3g} / {mb:.3g}", f"{win:.0%}"]
        print(f"| {budget} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
