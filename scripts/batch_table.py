"""Puts `hybridmatch batch` outputs of the same targets side by side, against each target's known
answer under each run's own analysis (the `known_mss` that batch.json records for sampled targets),
as markdown.

    python scripts/batch_table.py OUT_A OUT_B ...

Per target: the true note and held length, the ones each run estimated, the best returned MSS, the known answer's
MSS under that analysis and their ratio; then per batch the median and how many are within 2x.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def rows(folder: Path) -> tuple[str, dict[str, dict]]:
    batch = json.loads((folder / "batch.json").read_text())
    label = f"{batch['config']} ({batch['strategy']}, {batch['budget']})"
    return label, {r["file"]: {**r, "source": Path(batch["folder"]) / r["file"]} for r in batch["targets"] if r["status"] == "done"}


def truth(source: Path) -> str:
    """The note and held length the target was rendered with (its ``<stem>.json``)."""
    meta = json.loads(source.with_suffix(".json").read_text())
    return f"{meta['note']}, {meta['duration']:.2f}"


def main(folders: list[Path]) -> None:
    sides = [rows(f) for f in folders]
    files = sorted(set.intersection(*(set(r) for _, r in sides)))
    head = "| target | true note, held s | " + " | ".join(f"{label}: note, held s | best MSS | known MSS | ratio" for label, _ in sides) + " |"
    print(head)
    print("|---|---|" + "---|---:|---:|---:|" * len(sides))
    for name in files:
        cells = [truth(sides[0][1][name]["source"])]
        for _, r in sides:
            row = r[name]
            cells.append(f"{row['note']}, {row['duration']:.2f} | {row['mss']:.2f} | {row['known_mss']:.2f} | {row['mss'] / row['known_mss']:.2f}x")
        print(f"| {Path(name).stem} | " + " | ".join(cells) + " |")
    print()
    print("| batch | targets | median best MSS | median known MSS | within 2x of the known answer |")
    print("|---|---:|---:|---:|---:|")
    for label, r in sides:
        best = np.array([r[f]["mss"] for f in files])
        known = np.array([r[f]["known_mss"] for f in files])
        print(f"| {label} | {len(files)} | {np.median(best):.2f} | {np.median(known):.2f} | {int(np.sum(best <= 2 * known))} of {len(files)} |")
    if len(sides) == 2:
        a = np.array([sides[0][1][f]["mss"] for f in files])
        b = np.array([sides[1][1][f]["mss"] for f in files])
        print(f"\nPaired: {sides[0][0]} is lower on {int(np.sum(a < b))} of {len(files)} targets; median of the per-target "
              f"ratio {np.median(a / b):.3f}.")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
