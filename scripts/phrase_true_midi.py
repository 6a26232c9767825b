"""Does a phrase match found under the transcription hold up under the notes really played? Each
``NAME.wav`` (beside the ``NAME.mid`` that played it) is matched with ``run --notes phrase``; the best
preset is then rendered on a new instance playing the transcription and playing the true MIDI, and
both renders are scored against the recording. Prints, and writes with ``--out``, a markdown table:
the transcription's note F1 (as scripts/transcription_accuracy.py scores it), and the best preset's
MSS and wMFCC under each set of notes.

    python scripts/phrase_targets.py /tmp/fluid --seeds 0-9      # needs apt-get install fluidsynth fluid-soundfont-gm
    python scripts/phrase_true_midi.py /tmp/fluid --synth dexed --budget 500 --out results/phrase-match/true-midi.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from markdown_out import emit
from transcription_accuracy import score as f1_of  # mir_eval's note F1, 50 ms onsets, exact semitone

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch import match  # noqa: E402
from hybridmatch.catalog import resolve_synth  # noqa: E402
from hybridmatch.objectives import TargetFeatures, score  # noqa: E402
from hybridmatch.phrase import Note, read_midi, render_phrase  # noqa: E402
from hybridmatch.recording import load_recording  # noqa: E402


def one(wav: Path, args: argparse.Namespace) -> dict[str, float]:
    """The transcription's F1 and the best preset's scores under the transcription and the true notes."""
    spec = resolve_synth(args.synth, None)
    result = match(wav, synth=args.synth, notes="phrase", budget=args.budget, workers=args.workers, out=args.runs / wav.stem, report=False)
    target = load_recording(wav, sample_rate=spec.sample_rate, notes="phrase")
    heard = [Note(n["onset"], n["pitch"], n["duration"], n["velocity"]) for n in result.results["phrase"]["notes"]]
    played = read_midi(wav.with_suffix(".mid"))
    features = TargetFeatures(target.audio, spec.sample_rate)
    params = result.best["params"]
    scores = {}
    for name, notes in (("transcribed", heard), ("true", [n for n in played if n.onset < target.seconds])):
        audio = render_phrase(spec.build(), params, notes, seconds=target.seconds)  # a new instance for each, as run's verify does
        scores.update({f"{k} {name}": v for k, v in score(features, audio, names=("mss", "wmfcc")).items()})
    return {"f1": f1_of(played, heard)[2], **scores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--synth", default="dexed")
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=Path, default=Path("hybridmatch-out/true-midi"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows = {wav.stem: one(wav, args) for wav in sorted(args.folder.glob("*.wav")) if wav.with_suffix(".mid").exists()}
    cols = ["f1", "mss transcribed", "mss true", "wmfcc transcribed", "wmfcc true"]
    lines = [f"# The best phrase preset under the transcription and under the true notes ({args.synth})", "",
             f"`python scripts/phrase_true_midi.py {args.folder} --synth {args.synth} --budget {args.budget}`: each phrase matched with "
             f"`run --notes phrase` (the default strategy, {args.budget} candidates, seed 0); its best preset rendered on a new instance "
             "playing the transcription and playing the true MIDI, both scored against the recording. Lower is better.", "",
             "| phrase | note F1 | MSS, transcription | MSS, true notes | wMFCC, transcription | wMFCC, true notes |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | " + " | ".join(f"{r[c]:.2f}" for c in cols) + " |" for name, r in rows.items()]
    med = {c: float(np.median([r[c] for r in rows.values()])) for c in cols}
    lines.append("| **median** | " + " | ".join(f"**{med[c]:.2f}**" for c in cols) + " |")
    no_worse = sum(r["mss true"] <= r["mss transcribed"] * 1.0001 for r in rows.values())
    ratios = [r["mss true"] / r["mss transcribed"] for r in rows.values()]
    lines += ["", f"The true notes score no worse (MSS) on {no_worse} of {len(rows)} phrases; the median ratio true / transcription is "
              f"{np.median(ratios):.3f}.", ""]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
