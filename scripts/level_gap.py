"""Is a flow's wMFCC gap on recordings a level gap? For each target in a folder: 32 samples of the
shipped flow (or CHECKPOINT) and 32 prior samples are rendered; each candidate's RMS level is set
against the target's, and wMFCC is computed as is and after a gain that matches the candidate's RMS
to the target's (nothing else changes). The log-mel the flow sees is level-free; wMFCC is not.

    python scripts/level_gap.py SYNTH TARGETS [--checkpoint PATH] > OUT.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hybridmatch.cli import resolve_synth
from hybridmatch.compare import load_compare_target
from hybridmatch.objectives import mss, wmfcc
from hybridmatch.render import RenderJob, render_units
from hybridmatch.search import propose


def rms_db(y: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(y, dtype=np.float64) ** 2) + 1e-20))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("synth")
    ap.add_argument("targets")
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    spec = resolve_synth(args.synth, None)
    options = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    print(f"`python scripts/level_gap.py {args.synth} {args.targets}" + (f" --checkpoint {args.checkpoint}`" if args.checkpoint else "`"))
    print()
    print("Per target, over 32 rendered samples each: the median candidate level minus the target's (dB; + is louder),")
    print("the best wMFCC and the median wMFCC as rendered -> after matching each candidate's RMS to the target's, and the best MSS.")
    print()
    print("| target | flow level | flow best wMFCC | flow median wMFCC | flow best MSS | prior level | prior best wMFCC | prior median wMFCC | prior best MSS |")
    print("|---|---:|---|---|---:|---:|---|---|---:|")
    for path in sorted(Path(args.targets).glob("*.wav")):
        target = load_compare_target(path, spec)  # matched as compare matches it
        job = RenderJob(spec, target.audio, target.note, target.duration, {})
        rng = np.random.default_rng(0)
        sets = {"flow": propose("cnf", spec.space, 32, rng, job=job, **options), "prior": spec.space.sample(rng, 32)}
        cells = []
        for units in sets.values():
            offset, raw, matched, best_mss = [], [], [], []
            for audio, _ in render_units(job, units, with_presets=False):
                audio = np.atleast_2d(audio)[:, : target.audio.shape[-1]]
                if not np.isfinite(audio).all() or np.abs(audio).max() < 1e-5:
                    continue
                gap = rms_db(target.audio) - rms_db(audio)
                offset.append(-gap)
                raw.append(wmfcc(target.audio, audio))
                matched.append(wmfcc(target.audio, audio * 10 ** (gap / 20)))
                best_mss.append(mss(target.audio, audio))
            cells += [f"{np.median(offset):+.1f}", f"{min(raw):.1f} -> {min(matched):.1f}", f"{np.median(raw):.1f} -> {np.median(matched):.1f}", f"{min(best_mss):.2f}"]
        print(f"| {path.stem} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
