"""A whole `hybridmatch run` at two commits, side by side: each commit is checked out in its own git
worktree, and runs of the two alternate (A, B, A, B, ...) on the same target, so slow spells of the
machine fall on both. Prints, and writes with ``--out``, each run's total seconds, analysis, first
render and search, and the medians, with how many pairs B wins. For speed changes that leave the
search itself alone; run it on an idle machine.

    python scripts/ab_run.py 5b7b3ece d90b13c2 --pairs 5 --budget 100 --out results/speed-ab/worker-priority.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from markdown_out import emit

ROOT = Path(__file__).resolve().parents[1]

COLUMNS = ("total", "analysis", "first render", "search")


def worktree(rev: str, base: Path) -> Path:
    path = base / rev
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(path), rev], check=True)
    return path


def one_run(tree: Path, target: Path, args: argparse.Namespace) -> dict[str, float]:
    """One `run` from ``tree`` (its code and configs) into a fresh folder; seconds per column."""
    out = Path(tempfile.mkdtemp(prefix="ab-run-"))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "hybridmatch.cli", "run", str(target), "--synth", args.synth, "--budget", str(args.budget),
               "--workers", str(args.workers), "--out", str(out / "o"), "--quiet"]
    launched = time.time()
    subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    ended = time.time()
    t = json.loads((out / "o" / "results.json").read_text())["timings"]
    shutil.rmtree(out)
    return {"total": ended - launched, "analysis": t["analysis_s"], "first render": t["first_render_s"] + t["started_at"] - launched,
            "search": t["search_s"]}


def table(revs: list[str], runs: dict[str, list[dict[str, float]]]) -> list[str]:
    lines = ["| pair | " + " | ".join(f"{c} {r}" for c in COLUMNS for r in ("A", "B")) + " |", "|---:" * (1 + 2 * len(COLUMNS)) + "|"]
    for i, (a, b) in enumerate(zip(runs[revs[0]], runs[revs[1]], strict=True), start=1):
        lines.append(f"| {i} | " + " | ".join(f"{side[c]:.2f}" for c in COLUMNS for side in (a, b)) + " |")
    med = {r: {c: float(np.median([x[c] for x in runs[r]])) for c in COLUMNS} for r in revs}
    lines.append("| median | " + " | ".join(f"**{med[r][c]:.2f}**" for c in COLUMNS for r in revs) + " |")
    wins = {c: sum(b[c] < a[c] for a, b in zip(runs[revs[0]], runs[revs[1]], strict=True)) for c in COLUMNS}
    lines.append("| B lower | " + " | ".join(f"{wins[c]} of {len(runs[revs[1]])}" if r == "B" else "" for c in COLUMNS for r in ("A", "B")) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--synth", default="vital")
    ap.add_argument("--seed", type=int, default=9001, help="the prior patch the target renders")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ab-trees-"))
    revs = [args.a, args.b]
    trees = {r: worktree(r, base) for r in revs}
    try:
        target = base / "target.wav"
        subprocess.run([sys.executable, "-m", "hybridmatch.cli", "sample", "--synth", args.synth, "--seed", str(args.seed), "--seconds", "1.5",
                        "--duration", "1.0", "--out", str(target)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        runs: dict[str, list[dict[str, float]]] = {r: [] for r in revs}
        for _ in range(args.pairs):
            for r in revs:
                runs[r].append(one_run(trees[r], target, args))
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    head = [f"# `run` at two commits, side by side: A = {args.a}, B = {args.b}", "",
            f"`python scripts/ab_run.py {args.a} {args.b} --pairs {args.pairs} --budget {args.budget} --workers {args.workers} --synth {args.synth}`: "
            f"`hybridmatch run` ({args.synth}, the default strategy, {args.budget} renders, {args.workers} workers) on a 1.5 s render of prior "
            f"patch {args.seed}, the commits taking turns. Seconds from launch; `analysis` and `search` are results.json's phases.", ""]
    emit([*head, *table(revs, runs)], args.out)


if __name__ == "__main__":
    main()
