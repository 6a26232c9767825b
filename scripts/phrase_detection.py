"""Which recordings `run --notes auto` takes as phrases: every audio file of each folder is
read as `run` reads it, and the files that come out as phrases are counted and named with the notes
found. On folders of single notes every phrase is a misfire: that note would be matched as a line.

    python scripts/phrase_detection.py results/hybrid-vs-search/targets-vital results/hybrid-vs-search/targets-dexed \
        results/hybrid-vs-search/targets-real --out results/transcription/detection.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from markdown_out import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch.audio import find_audio, load_audio  # noqa: E402
from hybridmatch.phrase import note_name  # noqa: E402
from hybridmatch.recording import analyse_recording  # noqa: E402


def detect(folder: Path) -> tuple[list[str], list[str], float]:
    """The files read as phrases (each with its notes), all files, and the seconds per file."""
    files = find_audio(folder)
    phrases = []
    t0 = time.perf_counter()
    for path in files:
        audio, rate = load_audio(path)
        target = analyse_recording(audio, rate, sample_rate=44100, notes="auto", name=path.stem)
        if target.phrase:
            played = " ".join(f"{note_name(n.pitch)}@{n.onset:.2f}" for n in target.phrase)
            phrases.append(f"{path.name}: {played}")
    return phrases, [p.name for p in files], (time.perf_counter() - t0) / max(len(files), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines = ["# Which recordings `run --notes auto` reads as phrases", "",
             f"`python scripts/phrase_detection.py {' '.join(str(f) for f in args.folders)}`. `run --notes auto` transcribes "
             "the target and matches it as a phrase when it finds two notes or more; on these folders of single notes every phrase is a misfire.", "",
             "| folder | files | read as phrases | seconds per file |", "|---|---:|---:|---:|"]
    found = []
    for folder in args.folders:
        phrases, files, per = detect(folder)
        lines.append(f"| `{folder}` | {len(files)} | {len(phrases)} | {per:.2f} |")
        found += [f"- `{folder.name}/{p}`" for p in phrases]
    lines += ["", *(["Read as phrases:", "", *found] if found else ["No file was read as a phrase."]), ""]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
