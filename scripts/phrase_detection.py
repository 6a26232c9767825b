"""How well `run --notes auto` tells a phrase from one note: every audio file of each folder is read
as `run` reads it. The transcription reads many single synth notes as several, so where it finds two
notes or more, the synth's default strategy renders probes under both readings
(`hybridmatch.search.choose_reading`, search seed 0) and the better one is kept. Each folder is given
as FOLDER:SYNTH:KIND, KIND being what its files really are (`one` or `phrase`); the table counts
the files read each way, and lists every misread file.

    python scripts/phrase_detection.py results/hybrid-vs-search/targets-vital:vital:one \
        results/phrase-match/targets-vital-phrases:vital:phrase --out results/transcription/detection.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from markdown_out import emit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch.audio import find_audio, load_audio  # noqa: E402
from hybridmatch.catalog import resolve_strategy, resolve_synth  # noqa: E402
from hybridmatch.recording import analyse_recording  # noqa: E402
from hybridmatch.render import RenderJob, RenderPool  # noqa: E402
from hybridmatch.search import choose_reading  # noqa: E402


def read(folder: Path, synth: str, pool: RenderPool) -> tuple[list[tuple[str, int, str, float]], float]:
    """Per file: its name, the notes the transcription found, the reading kept and the ratio of the
    readings' best probe losses (phrase / one note; NaN where probes did not run); and the seconds per file."""
    spec = resolve_synth(synth, None)
    strategy = resolve_strategy("auto", spec)
    rows = []
    t0 = time.perf_counter()
    for path in find_audio(folder):
        audio, rate = load_audio(path)
        target = analyse_recording(audio, rate, sample_rate=spec.sample_rate, notes="auto", name=path.stem)
        if target.single is None:
            rows.append((path.name, len(target.phrase), "phrase" if target.phrase else "one note", float("nan")))
            continue
        phrase, single = RenderJob.of(spec, target, strategy.weights), RenderJob.of(spec, target.single, strategy.weights)
        found = choose_reading(phrase, single, strategy, pool, seed=0)
        summary = found.summary()
        rows.append((path.name, len(target.phrase), summary["chosen"], summary["phrase best_loss"] / summary["one note best_loss"]))
    return rows, (time.perf_counter() - t0) / max(len(rows), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", help="FOLDER:SYNTH:KIND, KIND one or phrase")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lines = ["# How `run --notes auto` reads a recording: phrase or one note", "",
             f"`python scripts/phrase_detection.py {' '.join(args.folders)}`. The transcription finds the notes; where it finds two or more, "
             "the synth's default strategy renders 6 probes under each reading (search seed 0), and the phrase is kept only when its best "
             "probe scores 5% lower than the one-note reading's.", "",
             "| folder | synth | files are | files | transcribed as 2+ notes | read as phrases | read right | seconds per file |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    wrong: list[str] = []
    ratios: list[str] = []
    with RenderPool(args.workers) as pool:
        for arg in args.folders:
            folder, synth, kind = arg.rsplit(":", 2)
            truth = {"one": "one note", "phrase": "phrase"}[kind]
            rows, per = read(Path(folder), synth, pool)
            several = sum(row[1] >= 2 for row in rows)
            phrases = sum(row[2] == "phrase" for row in rows)
            right = sum(row[2] == truth for row in rows)
            ratios += [f"| `{Path(folder).name}/{name}` | {truth} | {n} | {ratio:.3f} |" for name, n, _, ratio in rows if ratio == ratio]
            lines.append(f"| `{folder}` | {synth} | {truth}s | {len(rows)} | {several} | {phrases} | {right} | {per:.1f} |")
            wrong += [f"- `{Path(folder).name}/{name}`: {n} notes transcribed, read as {r}" for name, n, r, _ in rows if r != truth]
    lines += ["", *(["Misread:", "", *wrong] if wrong else ["Every file was read right."]), ""]
    lines += ["Every file probed both ways: the best phrase probe's loss over the best one-note probe's (the phrase is kept below 0.95).", "",
              "| file | is | notes transcribed | phrase / one note |", "|---|---|---:|---:|", *ratios, ""]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
