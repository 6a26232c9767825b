"""Checks issue 3's four claims on `hybridmatch compare` outputs and prints them as markdown.

    python scripts/hybrid_claims.py results/hybrid-vs-search/dexed results/hybrid-vs-search/dexed-n64 [...]

Each argument is a compare output folder; its `runs.csv` rows are pooled. A claim is checked on the
median over (target, seed) pairs, and the paired win rate says how often it holds run by run.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def load(folders: list[str]) -> dict[tuple[str, int], dict[tuple[str, int], dict[str, float]]]:
    """(strategy, budget) -> (target, seed) -> metrics."""
    rows: dict[tuple[str, int], dict[tuple[str, int], dict[str, float]]] = defaultdict(dict)
    for folder in folders:
        with open(Path(folder) / "runs.csv") as f:
            for r in csv.DictReader(f):
                rows[r["strategy"], int(r["budget"])][r["target"], int(r["seed"])] = {k: float(r[k]) for k in ("mss", "wmfcc")}
    return rows


def compare(rows, a: tuple[str, int], b: tuple[str, int], metric: str) -> tuple[float, float, float, int] | None:
    """Medians of a and b over their shared (target, seed) pairs, and a's win rate on them."""
    keys = sorted(set(rows.get(a, {})) & set(rows.get(b, {})))
    if not keys:
        return None
    va = np.array([rows[a][k][metric] for k in keys])
    vb = np.array([rows[b][k][metric] for k in keys])
    return float(np.median(va)), float(np.median(vb)), float(np.mean(va < vb)), len(keys)


def main(folders: list[str]) -> None:
    rows = load(folders)
    budgets = sorted({b for (s, b) in rows if s == "cnf-cma"})
    lines = ["| claim | metric | left | right | median left / right | left wins | pairs | holds |", "|---|---|---|---|---|---:|---:|---|"]

    def add(claim: str, a: tuple[str, int], b: tuple[str, int], metric: str, reach: bool = False) -> None:
        got = compare(rows, a, b, metric)
        if got is None:
            lines.append(f"| {claim} | {metric} | {a[0]}@{a[1]} | {b[0]}@{b[1]} | not run | | | |")
            return
        ma, mb, win, n = got
        lines.append(f"| {claim} | {metric} | {a[0]}@{a[1]} | {b[0]}@{b[1]} | {ma:.4g} / {mb:.4g} | {win:.0%} | {n} | {'yes' if ma < mb or (reach and ma <= mb) else '**no**'} |")

    for b in budgets:
        for m in ("mss", "wmfcc"):
            add("cnf-cma beats cma", ("cnf-cma", b), ("cma", b), m)
    if budgets:
        top = max(b for (s, b) in rows if s in ("cnf-cma", "cma"))
        add(f"cnf-cma@100 reaches cma@{top}", ("cnf-cma", 100), ("cma", top), "mss", reach=True)
        for m in ("mss", "wmfcc"):
            add("cnf beats regress as a seed", ("cnf-cma", max(budgets)), ("regress-cma", max(budgets)), m)
    for m in ("mss", "wmfcc"):
        add("cnf-only beats random at 64", ("cnf-only", 64), ("random", 64), m)
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
