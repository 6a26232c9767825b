"""How well `hybridmatch transcribe` finds the notes of phrases whose notes are known: each
``NAME.wav`` beside the ``NAME.mid`` that played it. Scored as mir_eval scores note transcription:
a found note matches a played one when its onset is within 50 ms and its pitch is the same semitone
(offsets are not scored). "Transposed" is the best F1 after moving every found note by one interval
(up to two octaves either way): a patch that sounds a fifth above the key it is played at loses
every note to exact pitch but not to this. "Onset" scores the onsets alone. Prints a markdown table per folder, and per phrase with ``--each``.

    python scripts/phrase_targets.py /tmp/fluid --seeds 0-9
    python scripts/transcription_accuracy.py /tmp/fluid [--each] [--out results/transcription.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mir_eval
import numpy as np
from markdown_out import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch.audio import load_audio  # noqa: E402
from hybridmatch.phrase import Note, note_name, read_midi  # noqa: E402
from hybridmatch.transcribe import transcribe  # noqa: E402


def intervals(notes: list[Note]) -> np.ndarray:
    """(onset, release) of each note, as mir_eval takes them."""
    return np.array([[n.onset, n.end] for n in notes]).reshape(-1, 2)


def score(played: list[Note], found: list[Note]) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``found`` against ``played``."""
    def hz(notes: list[Note]) -> np.ndarray:
        return np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes])

    p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
        intervals(played), hz(played), intervals(found), hz(found), onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None)
    return float(p), float(r), float(f)


def onset_f1(played: list[Note], found: list[Note]) -> float:
    """F1 of the onsets alone (within 50 ms), whatever the pitch: how well the notes are cut apart."""
    return float(mir_eval.transcription.onset_precision_recall_f1(intervals(played), intervals(found), onset_tolerance=0.05)[2])


def transposed_f1(played: list[Note], found: list[Note]) -> float:
    """The best F1 of ``found`` moved by one interval of -24 to 24 semitones."""
    return max(score(played, [Note(n.onset, n.pitch + k, n.duration, n.velocity) for n in found])[2] for k in range(-24, 25))


def folder_rows(folder: Path, each: bool) -> tuple[str, list[str]]:
    """The folder's summary row and, with ``each``, a row per phrase."""
    rows, scores, seconds, moved, cut = [], [], [], [], []
    for wav in sorted(folder.glob("*.wav")):
        played = read_midi(wav.with_suffix(".mid"))
        audio, rate = load_audio(wav)
        t0 = time.perf_counter()
        found = transcribe(audio, rate)
        seconds.append(time.perf_counter() - t0)
        scores.append(score(played, found))
        moved.append(transposed_f1(played, found) if found else 0.0)
        cut.append(onset_f1(played, found) if found else 0.0)
        if each:
            rows.append(f"| {wav.stem} | {' '.join(note_name(n.pitch) for n in played)} | {' '.join(note_name(n.pitch) for n in found)} | "
                        f"{scores[-1][2]:.2f} | {moved[-1]:.2f} | {cut[-1]:.2f} |")
    p, r, f = (np.array(x) for x in zip(*scores, strict=True))
    summary = (f"| `{folder}` | {len(scores)} | {np.median(f):.2f} [{np.percentile(f, 25):.2f}, {np.percentile(f, 75):.2f}] | {f.mean():.2f} | "
               f"{f.min():.2f} | {p.mean():.2f} | {r.mean():.2f} | {np.median(moved):.2f} | {np.median(cut):.2f} | {np.median(seconds):.2f} |")
    return summary, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--each", action="store_true", help="a row per phrase: the notes played and found")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines = ["| phrases | count | note F1, median [IQR] | mean F1 | worst F1 | precision | recall | transposed F1, median | onset F1, median "
             "| s per phrase |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    detail = []
    for folder in args.folders:
        summary, rows = folder_rows(folder, args.each)
        lines.append(summary)
        detail += rows
    if detail:
        lines += ["", "| phrase | played | found | F1 | transposed F1 | onset F1 |", "|---|---|---|---:|---:|---:|", *detail]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
