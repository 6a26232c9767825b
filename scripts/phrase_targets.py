"""Renders phrase targets with a known transcription: random monophonic lines of 4-8 notes (2-8 s)
played by fluidsynth from Debian's fluid-soundfont-gm, each ``NAME.wav`` beside the ``NAME.mid``
that played it (with fluidsynth's default reverb and chorus, so they are not synth renders of any config).

    apt-get install fluidsynth fluid-soundfont-gm
    python scripts/phrase_targets.py OUT [--seeds 0-9]

A seed picks the instrument (bass, lead or keys, in turn), the notes and their timing; the same seed
gives the same phrase. Seeds 0-9 are the held-out set of results/transcription.md; tune on others.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch.phrase import Note, write_midi  # noqa: E402

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# (kind, GM programs, lowest and highest MIDI note)
KINDS = [("bass", (33, 34, 38), 28, 52), ("lead", (80, 81, 73), 60, 84), ("keys", (0, 4, 11), 48, 76)]


def line(seed: int) -> tuple[str, int, list[Note]]:
    """The instrument kind, GM program and notes of phrase ``seed``."""
    rng = np.random.default_rng([seed, 0xF1])
    kind, programs, low, high = KINDS[seed % len(KINDS)]
    count, length = int(rng.integers(4, 9)), float(rng.uniform(2.0, 8.0))
    slot = length / count
    pitch = int(rng.integers(low + 5, high - 5))
    notes = []
    for i in range(count):
        pitch = int(np.clip(pitch + rng.choice([-7, -5, -4, -3, -2, 2, 3, 4, 5, 7, 12, -12]), low, high))
        held = float(np.clip(slot * rng.uniform(0.4, 0.95), 0.12, 1.5))
        notes.append(Note(round(i * slot, 3), pitch, round(held, 3), int(rng.integers(70, 121))))
    return kind, int(rng.choice(programs)), notes


def render(out: Path, seeds: list[int]) -> list[Path]:
    """``out/fluid-SEED-KIND.wav`` and its ``.mid`` for each seed; the wav paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in seeds:
        kind, program, notes = line(seed)
        stem = out / f"fluid-{seed:03d}-{kind}"
        write_midi(notes, stem.with_suffix(".mid"), program=program)
        subprocess.run(["fluidsynth", "-ni", "-q", "-r", "44100", "-F", str(stem.with_suffix(".wav")), SOUNDFONT, str(stem.with_suffix(".mid"))],
                       check=True)
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
    args = ap.parse_args()
    for p in render(args.out, seed_range(args.seeds)):
        print(p)
