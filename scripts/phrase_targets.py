"""Renders phrase targets with a known transcription: random monophonic lines of 4-8 notes (2-8 s),
each ``NAME.wav`` beside the ``NAME.mid`` that played it.

    apt-get install fluidsynth fluid-soundfont-gm
    python scripts/phrase_targets.py OUT [--seeds 0-9]
    python scripts/phrase_targets.py OUT --synth vital --seeds 8000-8019

By default fluidsynth plays them from Debian's fluid-soundfont-gm, with its default reverb and
chorus, so they are not synth renders of any config. A seed picks the instrument (bass, lead or keys,
in turn), the notes and their timing; the same seed gives the same phrase. Seeds 0-9 are the
held-out set of results/transcription/fluidsynth.md; tune on others. With ``--synth``, a random
patch of that synth plays each line (``hybridmatch sample --phrase``, 4 + seed % 5 notes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from real_targets import play  # fluidsynth and the soundfont, as the single-note recordings use them

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch.phrase import Note, random_line, write_midi  # noqa: E402

# (kind, GM programs, lowest and highest MIDI note)
KINDS = [("bass", (33, 34, 38), 28, 52), ("lead", (80, 81, 73), 60, 84), ("keys", (0, 4, 11), 48, 76)]


def line(seed: int) -> tuple[str, int, list[Note]]:
    """The instrument kind, GM program and notes of phrase ``seed``."""
    rng = np.random.default_rng([seed, 0xF1])
    kind, programs, low, high = KINDS[seed % len(KINDS)]
    count, length = int(rng.integers(4, 9)), float(rng.uniform(2.0, 8.0))
    notes = random_line(rng, count, low=low, high=high, seconds=length)
    return kind, int(rng.choice(programs)), notes


def render(out: Path, seeds: list[int]) -> list[Path]:
    """``out/fluid-SEED-KIND.wav`` and its ``.mid`` for each seed; the wav paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        kind, program, notes = line(seed)
        stem = out / f"fluid-{seed:03d}-{kind}"
        write_midi(notes, stem.with_suffix(".mid"), program=program)
        play(stem.with_suffix(".mid"), stem.with_suffix(".wav"))
        paths.append(stem.with_suffix(".wav"))
    return paths


def seed_range(text: str) -> list[int]:
    """``0-9`` or ``3,5,7`` -> the seeds."""
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--synth", default=None, help="a synth plays the lines instead of fluidsynth: vital, dexed, ...")
    args = ap.parse_args()
    if args.synth:
        from hybridmatch.catalog import resolve_synth
        from hybridmatch.sampling import save_phrase

        spec = resolve_synth(args.synth, None)
        for seed in seed_range(args.seeds):
            print(save_phrase(spec, seed=seed, count=4 + seed % 5, out=args.out / f"{args.synth}-{seed}.wav")[0])
    else:
        for p in render(args.out, seed_range(args.seeds)):
            print(p)
