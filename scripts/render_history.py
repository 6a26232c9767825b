"""Does a render depend on the renders before it? Renders N prior patches on one synth instance (as a
search worker does), then M other patches, then the N again, and scores each second render against its
first (MSS and wMFCC; 0 means the patch sounds the same whatever came before).

    python scripts/render_history.py --synth vital [--n 10] [--others 30] [--seed 0] [--note 60] [--duration 0.5] [--seconds 1.0]

Also prints the median render time, so a fix that resets the engine can be weighed against its cost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridmatch.cli import resolve_synth  # noqa: E402
from hybridmatch.objectives import TargetFeatures, score  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", default="vital")
    ap.add_argument("--config")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--others", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", type=int, default=60)
    ap.add_argument("--duration", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    spec = resolve_synth(args.synth, args.config)
    synth = spec.build()
    units = spec.space.sample(np.random.default_rng(args.seed), args.n + args.others)
    times: list[float] = []

    def render(unit: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        audio = synth.render(spec.space.to_native(unit), note=args.note, duration=args.duration, seconds=args.seconds)
        times.append(time.perf_counter() - t0)
        return audio

    first = [render(u) for u in units[: args.n]]
    for u in units[args.n :]:
        render(u)
    scores = [score(TargetFeatures(a, spec.sample_rate), render(u)) for a, u in zip(first, units[: args.n], strict=True)]
    mss = np.array([s["mss"] for s in scores])
    wmfcc = np.array([s["wmfcc"] for s in scores])
    print(f"{args.synth}: {args.n} patches rendered again after {args.others} others (seed {args.seed}); median render {1000 * np.median(times):.0f} ms")
    print("MSS per patch:   " + " ".join(f"{v:.4f}" for v in mss))
    print("wMFCC per patch: " + " ".join(f"{v:.4f}" for v in wmfcc))
    print(f"patches that changed by more than 0.01 MSS: {int((mss > 0.01).sum())} of {args.n}; largest {mss.max():.4f}")


if __name__ == "__main__":
    main()
