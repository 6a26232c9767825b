"""Side-by-side table of `hybridmatch batch` runs with and without note/length refinement.

    python scripts/refine_table.py --fixed A-s0 A-s1 ... --refined B-s0 B-s1 ... > table.md

Pairs the batch folders by position (same seed), reads each target's rank-1 MSS (the best search
loss) and, where the target has a known answer, that answer's MSS under the run's own analysis.
Both conditions score against the same analysed target audio, so their MSS are comparable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from statistics import median


def _rows(folder: Path) -> dict[str, dict]:
    return {r["file"]: r for r in json.loads((folder / "batch.json").read_text())["targets"] if r.get("status") == "done"}


def _analysis(folder: Path, row: dict) -> dict:
    path = folder / row["out"] / "analysis.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixed", nargs="+", type=Path, required=True)
    ap.add_argument("--refined", nargs="+", type=Path, required=True)
    ap.add_argument("--names", nargs=2, default=["estimate", "refined"], help="column names for the two sides")
    args = ap.parse_args()
    left, right = args.names
    if len(args.fixed) != len(args.refined):
        ap.error("give as many --fixed as --refined folders (one per seed)")
    runs = [(_rows(f), _rows(r), r) for f, r in zip(args.fixed, args.refined, strict=True)]
    files = sorted(set.intersection(*(set(a) & set(b) for a, b, _ in runs)))
    known = all("known_mss" in a[f] for a, _, _ in runs for f in files)
    head = f"| target | held s: estimated → {right} (per seed) | MSS, {left} | MSS, {right} | {right} wins |"
    if known:
        head += f" known answer MSS, {left} → {right} | ratio to it, {left} → {right} |"
    print(head)
    print("|---|---|---:|---:|---:|" + ("---:|---:|" if known else ""))
    wins = total = 0
    within = {"fixed": 0, "refined": 0}
    medians = {"fixed": [], "refined": []}
    for f in files:
        fixed = [a[f] for a, _, _ in runs]
        refined = [b[f] for _, b, _ in runs]
        chosen = []
        for (_, b, folder) in runs:
            an = _analysis(folder, b[f])
            est = an.get("estimated", {}).get("duration", b[f]["duration"])
            note = "" if an.get("chosen", {}).get("note", b[f]["note"]) == an.get("estimated", {}).get("note", b[f]["note"]) else f" note {b[f]['note']}"
            chosen.append(f"{b[f]['duration']:.2f}{note}")
        w = sum(r["mss"] < x["mss"] for x, r in zip(fixed, refined, strict=True))
        wins, total = wins + w, total + len(fixed)
        mf, mr = median(x["mss"] for x in fixed), median(r["mss"] for r in refined)
        medians["fixed"].append(mf)
        medians["refined"].append(mr)
        line = f"| {f} | {est:.2f} → {', '.join(chosen)} | {mf:.2f} | {mr:.2f} | {w}/{len(fixed)} |"
        if known:
            kf, kr = median(x["known_mss"] for x in fixed), median(r["known_mss"] for r in refined)
            rf = [x["mss"] / x["known_mss"] for x in fixed]
            rr = [r["mss"] / r["known_mss"] for r in refined]
            within["fixed"] += sum(v <= 2 for v in rf)
            within["refined"] += sum(v <= 2 for v in rr)
            line += f" {kf:.2f} → {kr:.2f} | {median(rf):.1f}x → {median(rr):.1f}x |"
        print(line)
    print()
    print(f"Median over targets of the per-target median MSS: {left} {median(medians['fixed']):.2f}, "
          f"{right} {median(medians['refined']):.2f}. {right} has the lower MSS in {wins} of {total} (target, seed) pairs.")
    if known:
        print(f"Runs within 2x of the known answer under their own analysis: {left} {within['fixed']} of {total}, "
              f"{right} {within['refined']} of {total}.")


if __name__ == "__main__":
    main()
