"""Pairs two strategies' runs from `hybridmatch compare` outputs and prints, per budget, their medians
over the shared (target, seed) pairs and how often the first is lower, as markdown.

    python scripts/paired.py FOLDER:STRATEGY FOLDER:STRATEGY [--metric mss,wmfcc] [--by-target BUDGET]
    python scripts/paired.py FOLDER:STRATEGY FOLDER:STRATEGY --set    # the returned sets (done.json), at the runs' full budget
    python scripts/paired.py ... --verified [--set]    # as loaded: verified.csv / verified-sets.csv from scripts/verify_runs.py
    python scripts/paired.py ... --at 500,1200         # the left side at 500 renders against the right at 1200

Each metric also gets the median of the per-pair ratios (left / right) and a Wilcoxon signed-rank p
(scipy) over the pairs.

The two sides may come from different folders (a strategy rerun under a new definition next to the
old runs), so long as they share targets and seeds.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
from pathlib import Path

import numpy as np
from hybrid_claims import compare
from scipy.stats import wilcoxon  # medians over the shared pairs and the left side's win rate


def side(spec: str, metrics: list[str], table: str = "runs.csv") -> dict[tuple[int, str, int], dict[str, float]]:
    """(budget, target, seed) -> metrics of one strategy in one compare folder."""
    folder, _, strategy = spec.rpartition(":")
    with open(Path(folder) / table) as f:
        return {(int(r["budget"]), r["target"], int(r["seed"])): {m: float(r[m]) for m in metrics}
                for r in csv.DictReader(f) if r["strategy"] == strategy}


SET_METRICS = "near_best,mss_1,mss_4,recipe_spread,audio_spread"


def side_sets(spec: str, metrics: list[str]) -> dict[tuple[int, str, int], dict[str, float]]:
    """(renders, target, seed) -> the returned set's measures of one strategy's runs that have one."""
    folder, _, strategy = spec.rpartition(":")
    out = {}
    for done in sorted((Path(folder) / "runs" / strategy).glob("*/s*/done.json")):
        info = json.loads(done.read_text())
        if info.get("set"):
            out[int(info["renders"]), done.parent.parent.name, int(done.parent.name[1:])] = {m: _number(info["set"].get(m)) for m in metrics}
    return out


def _number(value: object) -> float:
    """A set measure, NaN where the run has none (the 4th recipe of a set of 3; a key of an older set)."""
    return float(value) if isinstance(value, (int, float)) else float("nan")


def side_verified_sets(spec: str, metrics: list[str]) -> dict[tuple[int, str, int], dict[str, float]]:
    """As :func:`side_sets`, from the sets rendered again by scripts/verify_runs.py."""
    folder, _, strategy = spec.rpartition(":")
    with open(Path(folder) / "verified-sets.csv") as f:
        return {(int(r["renders"]), r["target"], int(r["seed"])): {m: float(r[m]) for m in metrics}
                for r in csv.DictReader(f) if r["strategy"] == strategy and r[metrics[0]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("left")
    ap.add_argument("right")
    ap.add_argument("--metric", help=f"comma-separated (default mss,wmfcc; with --set {SET_METRICS})")
    ap.add_argument("--set", action="store_true", help="pair the runs' returned sets (compare's done.json) instead of their best")
    ap.add_argument("--verified", action="store_true", help="the patches' scores as loaded (scripts/verify_runs.py's tables)")
    ap.add_argument("--at", metavar="LEFT,RIGHT", help="pair the left side at budget LEFT with the right at RIGHT (e.g. equal wall time)")
    ap.add_argument("--by-target", type=int, metavar="BUDGET", help="one row per target at BUDGET (over its seeds) instead of one per budget")
    args = ap.parse_args()
    metrics = (args.metric or (SET_METRICS if args.set else "mss,wmfcc")).split(",")
    if args.verified:
        read = side_verified_sets if args.set else functools.partial(side, table="verified.csv")
    else:
        read = side_sets if args.set else side
    a, b = read(args.left, metrics), read(args.right, metrics)
    if args.at:  # equal time, not equal renders: the left side at one budget, the right at another
        left_b, right_b = (int(x) for x in args.at.split(","))
        a = {(f"{left_b} / {right_b}", t, s): v for (bud, t, s), v in a.items() if bud == left_b}
        b = {(f"{left_b} / {right_b}", t, s): v for (bud, t, s), v in b.items() if bud == right_b}
    keys = sorted(set(a) & set(b))
    if args.by_target is not None:
        keys = [k for k in keys if k[0] == args.by_target]
    if not keys:
        raise SystemExit("paired.py: the two sides share no (budget, target, seed) runs")
    # one table row per budget, or per target at --by-target
    group = (lambda k: k[1]) if args.by_target is not None else (lambda k: k[0])
    label = f"target (at {args.by_target})" if args.by_target is not None else "budget"
    print(f"`{args.left}` (left) against `{args.right}` (right)\n")
    print(f"| {label} | pairs | " + " | ".join(f"{m} left / right | left {'lower' if args.set else 'wins'} ({m}) | median left/right per pair, "
                                                f"Wilcoxon p ({m})" for m in metrics) + " |")
    print("|---|---:|" + "---|---:|---:|" * len(metrics))
    for name in sorted({group(k) for k in keys}):
        # hybrid_claims.compare takes side -> (target, seed) -> metrics
        shared = [k for k in keys if group(k) == name]
        rows = {side_: {k[1:]: d[k] for k in shared} for side_, d in (("left", a), ("right", b))}
        cells = []
        for m in metrics:
            ma, mb, _, n = compare(rows, "left", "right", m)
            # pairs scored the same to 1e-4 (the same patch found by both: scores of one render can
            # differ in the last digits between processes) are no win for either side
            diff = np.array([rows["left"][k][m] - rows["right"][k][m] for k in rows["left"]])
            win, tied = float(np.mean(diff < -1e-4)), int(np.sum(np.abs(diff) <= 1e-4))
            left, right = (np.array([rows[s_][k][m] for k in rows["left"]]) for s_ in ("left", "right"))
            ratio = float(np.median(left / np.maximum(right, 1e-12)))
            p = float(wilcoxon(left, right).pvalue) if np.any(np.abs(diff) > 1e-4) else 1.0
            cells += [f"{ma:.3g} / {mb:.3g}", f"{win:.0%}" + (f" ({tied} tied)" if tied else ""), f"{ratio:.3f}, p {p:.2f}"]
        print(f"| {name} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
