"""Scores `hybridmatch compare` runs by the sound of their patches as loaded: each run's best patch at
each budget, and the set `run` would return, rendered again on a new synth instance each.

A search on a synth whose renders depend on the renders before them (Vital without `fresh`) scores
its candidates with that history; `compare`'s curves and sets are those scores. This re-scores them
(for an exact synth it reproduces them: a check). It needs the runs' archives.

    python scripts/verify_runs.py FOLDER --targets T --strategies a,b [--budgets 50,100,200,500] [--synth vital] [--config C] [--workers 2]
    python scripts/verify_runs.py FOLDER --targets T --strategies a,b --report-only    # summarize verified.csv again
    python scripts/verify_runs.py FOLDER --targets T --strategies a --shortlists 8,12,16,24   # how long a shortlist `run` needs

Writes FOLDER/verified.csv (strategy, target, seed, budget, mss, wmfcc as loaded, and the search's
mss/wmfcc for the same patch) and FOLDER/verified-sets.csv (the returned set, as `run` chooses it
now: the 8 recipes rendered fresh and ranked by those scores). Pair them with
`scripts/paired.py FOLDER:STRATEGY ... --verified [--set]`. With ``--shortlists``, the longest is
rendered fresh once and the set is chosen from each shorter one (the first n of it, as `run` would
shortlist n): FOLDER/shortlists.md says what each length returns against the longest, and
verified-sets.csv holds the longest's sets.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hybridmatch._io import atomic_write  # noqa: E402
from hybridmatch.audio import find_audio  # noqa: E402
from hybridmatch.catalog import resolve_strategy, resolve_synth  # noqa: E402
from hybridmatch.compare import KEEP, load_compare_target  # noqa: E402
from hybridmatch.render import RenderJob, RenderPool  # noqa: E402
from hybridmatch.search import Archive, returned_set, select_recipes  # noqa: E402

SET_KEYS = ("mss_1", "mss_4", "mss_8", "returned", "near_best", "recipe_spread", "audio_spread")


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue().encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--targets", required=True)
    ap.add_argument("--strategies", required=True)
    ap.add_argument("--synth", default="vital")
    ap.add_argument("--config")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budgets", default="50,100,200,500")
    ap.add_argument("--report-only", action="store_true", help="summarize FOLDER/verified.csv; render nothing")
    ap.add_argument("--shortlists", default=str(KEEP), help="shortlist lengths to choose the set from, e.g. 8,12,16,24")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    lengths = sorted(int(n) for n in args.shortlists.split(","))
    if args.report_only:
        summarize(Path(args.folder), budgets)
        return
    spec = resolve_synth(args.synth, args.config)
    folder = Path(args.folder)
    best_rows: list[dict[str, object]] = []
    set_rows: list[dict[str, object]] = []
    with RenderPool(args.workers) as pool:
        for name in args.strategies.split(","):
            strategy = resolve_strategy(name)
            for path in find_audio(Path(args.targets)):
                runs = sorted((folder / "runs" / strategy.name / path.stem).glob("s*/archive.jsonl"))
                if not runs:
                    continue
                target = load_compare_target(path, spec)
                job = RenderJob(spec, target.audio, target.note, target.duration, dict(strategy.weights))
                for archive_path in runs:
                    seed = int(archive_path.parent.name[1:])
                    archive = Archive.load(archive_path)
                    anytime = archive.anytime()
                    at = {b: int(anytime[min(b, len(archive)) - 1]) for b in budgets}
                    shortlist = select_recipes(archive.entries, spec.space, keep=max(lengths))
                    listed = set(shortlist)
                    picks = sorted(set(at.values()) | listed)
                    fresh = dict(zip(picks, (ev for ev, _, _ in pool.verify(job, np.array([archive.entries[i].unit for i in picks]))), strict=True))
                    for b, i in at.items():
                        searched = archive.entries[i].objectives
                        best_rows.append({"strategy": strategy.name, "target": path.stem, "seed": seed, "budget": b,
                                          "mss": fresh[i].objectives["mss"], "wmfcc": fresh[i].objectives["wmfcc"],
                                          "search_mss": searched["mss"], "search_wmfcc": searched["wmfcc"]})
                    searched_set = returned_set(archive.entries, spec.space, keep=KEEP)
                    for n in lengths:  # select_recipes is greedy, so its first n are what keep=n would list
                        verified = returned_set([fresh[i] if i in listed else e for i, e in enumerate(archive.entries)], spec.space, keep=KEEP,
                                                among=shortlist[:n])
                        set_rows.append({"strategy": strategy.name, "target": path.stem, "seed": seed, "renders": len(archive), "shortlist": n,
                                         **{k: verified.get(k) for k in SET_KEYS}, **{f"search_{k}": searched_set.get(k) for k in SET_KEYS[:3]}})
                    print(f"{strategy.name} {path.stem} s{seed}: best@{max(budgets)} {best_rows[-1]['mss']:.3f} as loaded, "
                          f"{best_rows[-1]['search_mss']:.3f} in the search", flush=True)
    if not best_rows:
        raise SystemExit(f"verify_runs.py: no archives under {folder}/runs for {args.strategies}")
    write_csv(folder / "verified.csv", best_rows)
    write_csv(folder / "verified-sets.csv", [r for r in set_rows if r["shortlist"] == max(lengths)])
    summarize(folder, budgets)
    if len(lengths) > 1:
        atomic_write(folder / "shortlists.md", shortlists_table(set_rows, lengths).encode())


def shortlists_table(rows: list[dict[str, object]], lengths: list[int]) -> str:
    """Per shortlist length: the returned set's best and median MSS as loaded, paired against the longest list."""
    def col(n: int, key: str) -> np.ndarray:
        return np.array([float(r[key]) if r[key] not in (None, "") else np.nan for r in rows if r["shortlist"] == n])  # type: ignore[arg-type]

    full_first = col(max(lengths), "mss_1")
    lines = ["| shortlist (fresh renders) | best MSS, median [IQR] | 4th recipe's MSS | best worse than the longest list's by > 1% | "
             "largest loss | runs |", "|---:|---|---:|---:|---:|---:|"]
    for n in lengths:
        first, median = col(n, "mss_1"), col(n, "mss_4")
        q1, q3 = np.percentile(first, [25, 75])
        worse = int((first > full_first * 1.01).sum())
        lines.append(f"| {n} | {np.median(first):.3f} [{q1:.3f}, {q3:.3f}] | {np.nanmedian(median):.3f} | {worse} of {len(first)} | "
                     f"{np.max(first / full_first) - 1:+.1%} | {len(first)} |")
    return "\n".join(lines) + "\n"


def summarize(folder: Path, budgets: list[int]) -> None:
    """Per strategy and budget: the median MSS of the best patch as loaded and in the search, and how
    many runs' best patch sounds different as loaded (by more than 0.01 MSS)."""
    with open(folder / "verified.csv") as f:
        rows = list(csv.DictReader(f))
    for name in dict.fromkeys(r["strategy"] for r in rows):
        for b in budgets:
            sel = [r for r in rows if r["strategy"] == name and int(r["budget"]) == b]
            if not sel:
                continue
            loaded, searched = (np.array([float(r[k]) for r in sel]) for k in ("mss", "search_mss"))
            gap = loaded - searched
            print(f"{name} @{b}: median MSS as loaded {np.median(loaded):.3f}, in the search {np.median(searched):.3f}; "
                  f"{int((np.abs(gap) > 0.01).sum())} of {len(sel)} runs differ by > 0.01 (largest {gap[np.argmax(np.abs(gap))]:+.3f})")


if __name__ == "__main__":
    main()
