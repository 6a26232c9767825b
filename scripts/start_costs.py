"""What a run's start costs, piece by piece, at two commits, and whether a worker analyses a target as
the parent does.

Each piece is timed in a fresh process from launch (imports included), the commits taking turns, on
an idle machine: a render worker made ready for Vital (`worker.build`: synth, scoring code), Vital's
nevergrad parametrization built, and one 1.5 s candidate scored (the mean of 100 scores, after one).
Then, at this checkout, every target in the folders given is analysed in the parent and by a render
worker (`RenderPool.call_soon`), and the two analyses are compared.

    python scripts/start_costs.py f6296669 HEAD --targets results/hybrid-vs-search/targets-vital,results/hybrid-vs-search/targets-dexed,results/hybrid-vs-search/targets-real --out results/speed-ab/start-costs.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ab_run import ROOT, worktree
from markdown_out import emit

PIECES = {
    "worker ready (s)": "from hybridmatch.worker import build; from hybridmatch.catalog import resolve_synth; build(resolve_synth('vital', None))",
    "nevergrad parametrization (s)": "from hybridmatch.catalog import resolve_synth; resolve_synth('vital', None).space.to_nevergrad(seed=0)",
}
SCORE = ("import numpy as np, time; from hybridmatch.objectives import TargetFeatures, score; rng = np.random.default_rng(0); "
         "t, c = (rng.standard_normal((1, 66150)).astype(np.float32) * 0.1 for _ in range(2)); f = TargetFeatures(t, 44100); score(f, c); "
         "s = time.perf_counter(); [score(f, c) for _ in range(100)]; print((time.perf_counter() - s) * 10)")


def timed(tree: Path, code: str) -> float:
    """Seconds from launching a process that runs ``code`` in ``tree`` to its end."""
    done = subprocess.run([sys.executable, "-c", f"import time; t0 = time.time(); {code}; print(time.time() - t0)"], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree)}, check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def score_ms(tree: Path) -> float:
    done = subprocess.run([sys.executable, "-c", SCORE], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def analyses(folders: list[Path]) -> list[str]:
    """How many targets a worker analyses exactly as the parent does (note, length, audio)."""
    import numpy as np

    from hybridmatch.audio import find_audio, load_audio
    from hybridmatch.recording import analyse_recording
    from hybridmatch.render import RenderPool

    lines = ["| targets | files | same note, length and audio |", "|---|---:|---:|"]
    with RenderPool(2) as pool:
        for folder in folders:
            same = files = 0
            for path in find_audio(folder):
                audio, rate = load_audio(path)
                here = analyse_recording(audio, rate, sample_rate=44100, name=path.stem)
                there = pool.call_soon(analyse_recording, audio, rate, sample_rate=44100, name=path.stem)()
                files += 1
                same += here.note == there.note and here.duration == there.duration and np.array_equal(here.audio, there.audio)
            lines.append(f"| `{folder}` | {files} | {same} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--targets", default="", help="comma-separated folders of targets for the analysis check")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="start-trees-"))
    revs = [args.a, args.b]
    trees = {r: worktree(r, base) for r in revs}
    got: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(args.repeats):
            for r in revs:
                for name, code in PIECES.items():
                    got.setdefault((name, r), []).append(timed(trees[r], code))
                got.setdefault(("scoring a 1.5 s candidate (ms)", r), []).append(score_ms(trees[r]))
    finally:
        for tree in trees.values():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    names = [*PIECES, "scoring a 1.5 s candidate (ms)"]
    lines = [f"# A run's start, piece by piece: A = {args.a}, B = {args.b}", "",
             f"`python scripts/start_costs.py {args.a} {args.b} --repeats {args.repeats}" + (f" --targets {args.targets}" if args.targets else "")
             + "`: each piece in a fresh process, the commits taking "
             "turns; every measurement, lowest to highest.", "", "| piece | A | B |", "|---|---|---|"]
    lines += [f"| {n} | " + " | ".join(", ".join(f"{v:.2f}" for v in sorted(got[(n, r)])) for r in revs) + " |" for n in names]
    folders = [Path(f) for f in args.targets.split(",") if f]
    if folders:
        lines += ["", "The target analysed in the parent and by a render worker, at this checkout:", "", *analyses(folders)]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
