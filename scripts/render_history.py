"""Does a render depend on the renders before it? For N prior patches, renders each on one synth
instance (as a search worker does), then `engine.noise_floor`: five other patches, the same patch
again, scored against its first render (0 means the patch sounds the same whatever came before).

    python scripts/render_history.py --synth vital [--config C] [--n 10] [--seed 0] [--note 60] [--duration 0.5] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridmatch.cli import resolve_synth  # noqa: E402
from hybridmatch.engine import noise_floor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", default="vital")
    ap.add_argument("--config")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", type=int, default=60)
    ap.add_argument("--duration", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    spec = resolve_synth(args.synth, args.config)
    synth = spec.build()
    floors = []
    for unit in spec.space.sample(np.random.default_rng(args.seed), args.n):
        values = spec.space.to_native(unit)
        audio = synth.render(values, note=args.note, duration=args.duration, seconds=args.seconds)
        floors.append(noise_floor(spec, synth, values, audio, note=args.note, duration=args.duration, seconds=args.seconds))
    mss = np.array([f["mss"] for f in floors])
    print(f"{args.synth}: {args.n} prior patches (seed {args.seed}), each rendered again after five others")
    print("MSS per patch:   " + " ".join(f"{f['mss']:.4f}" for f in floors))
    print("wMFCC per patch: " + " ".join(f"{f['wmfcc']:.4f}" for f in floors))
    print(f"patches that changed by more than 0.01 MSS: {int((mss > 0.01).sum())} of {args.n}; largest {mss.max():.4f}")


if __name__ == "__main__":
    main()
