"""How often the target analysis finds the played note, on every committed target whose note is known:
the sampled synth targets (their ``.json`` holds the note) and the fluidsynth recordings (the notes
``scripts/real_targets.py`` played them at). Writes a markdown table: per set, the notes found exactly, the ones right
up to octaves, and the seconds per target.

    python scripts/note_accuracy.py [--out results/note-accuracy.md] [--pesto]

``--pesto`` adds a column for the ``pesto-pitch`` tracker (``pip install pesto-pitch``: median f0 over
frames of confidence above 0.5). pesto imports torchaudio only to read files, and the torchaudio wheel on
PyPI does not load beside the CPU build of torch, so this script gives pesto an empty torchaudio module;
the audio reaches it as an array.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
from real_targets import NOTES  # the recordings' notes, from the table that rendered them

from hybridmatch.audio import estimate_note, load_target

SETS = {
    "Vital in-domain": "results/hybrid-vs-search/targets-vital",
    "Dexed in-domain": "results/hybrid-vs-search/targets-dexed",
    "Dexed plugin (VST3)": "results/dexed-vst3/targets",
    "HMSynth fixture (VST3)": "results/vst3/targets",
    "fluidsynth recordings": "results/hybrid-vs-search/targets-real",
}


def true_note(wav: Path) -> int:
    """The note in the target's ``.json`` (sampled targets), else the one ``real_targets.py`` played it at."""
    meta = wav.with_suffix(".json")
    if meta.exists():
        return int(json.loads(meta.read_text())["note"])
    played = {name: note for name, _, note, _ in NOTES}
    if wav.stem not in played:
        raise SystemExit(f"{wav}: no .json beside it and not one of real_targets.py's notes")
    return played[wav.stem]


def pesto_note() -> object:
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    import librosa
    import pesto
    import torch

    def note(audio: np.ndarray, rate: int) -> int | None:
        _, f0, confidence, _ = pesto.predict(torch.from_numpy(audio.mean(axis=0)[: 3 * rate]), rate, step_size=10.0)
        sure = confidence.numpy() > 0.5
        return int(round(float(librosa.hz_to_midi(np.median(f0.numpy()[sure]))))) if sure.sum() >= 3 else None

    return note


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/note-accuracy.md")
    parser.add_argument("--pesto", action="store_true")
    args = parser.parse_args()
    trackers = {"pYIN (shipped)": estimate_note} | ({"pesto": pesto_note()} if args.pesto else {})
    for fn in trackers.values():  # imports and first calls outside the timings
        fn(np.sin(np.arange(44100, dtype=np.float32) * 0.05)[None], 44100)
    rows = []
    for name, folder in SETS.items():
        wavs = sorted(Path(folder).glob("*.wav"))
        targets = [(load_target(w, note=0, duration=1.0), true_note(w)) for w in wavs]
        cells = []
        for fn in trackers.values():
            t0 = time.perf_counter()
            found = [fn(t.audio, t.sample_rate) for t, _ in targets]
            took = (time.perf_counter() - t0) / len(targets)
            exact = sum(f == n for f, (_, n) in zip(found, targets, strict=True))
            octaves = sum(f is not None and (f - n) % 12 == 0 for f, (_, n) in zip(found, targets, strict=True))
            cells.append(f"{exact} | {octaves} | {took:.2f}")
        rows.append(f"| {name} | {len(targets)} | " + " | ".join(cells) + " |")
    head = "| set | targets | " + " | ".join(f"{k}: exact | {k}: up to octaves | {k}: s per target" for k in trackers) + " |"
    table = "\n".join([head, "|---|---:|" + "---:|---:|---:|" * len(trackers), *rows])
    command = "python scripts/note_accuracy.py" + (" --pesto" if args.pesto else "")
    text = ("# Finding the played note\n\n"
            f"`{command}`. Each target is loaded and trimmed as `hybridmatch run` does it; the note is estimated from "
            "its first 3 s and compared with the note it was played at.\n\n" + table + "\n")
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
