"""Archive: every evaluated candidate, appended to ``archive.jsonl`` as it arrives."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..render import Evaluation

__all__ = ["Archive"]


class Archive:
    """In-memory list of :class:`Evaluation` plus an append-only JSONL file (one line per render).

    Each line is flushed and fsynced before :meth:`extend` returns, so a killed run loses nothing
    that was evaluated."""

    def __init__(self, path: str | Path | None = None, *, append: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: list[Evaluation] = []
        self.origins: list[str] = []
        self._fh: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if append and self.path.exists():
                for rec in _read_lines(self.path, repair=True):
                    self.entries.append(Evaluation.from_record(rec))
                    self.origins.append(str(rec.get("origin", "")))
            self._fh = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115

    def __len__(self) -> int:
        return len(self.entries)

    def extend(self, evals: Iterable[Evaluation], origin: str = "") -> None:
        lines = []
        for ev in evals:
            rec = {"i": len(self.entries), "origin": origin, **ev.to_record()}
            self.entries.append(ev)
            self.origins.append(origin)
            lines.append(json.dumps(rec))
        if self._fh is not None and lines:
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def losses(self) -> np.ndarray:
        return np.array([e.loss for e in self.entries])

    def best(self) -> Evaluation:
        return self.entries[int(np.argmin(self.losses))]

    def anytime(self) -> np.ndarray:
        """Index of the best-loss candidate after each render: shape ``(len,)``."""
        losses = self.losses
        best = np.zeros(len(losses), dtype=int)
        for i in range(1, len(losses)):
            best[i] = i if losses[i] < losses[best[i - 1]] else best[i - 1]
        return best

    @classmethod
    def load(cls, path: str | Path) -> Archive:
        """Reads an archive without opening it for writing."""
        archive = cls(None)
        for rec in _read_lines(Path(path)):
            archive.entries.append(Evaluation.from_record(rec))
            archive.origins.append(str(rec.get("origin", "")))
        return archive


def _read_lines(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The intact records of an archive. A line cut by a kill ends the file (everything before it was
    fsynced); with ``repair`` the cut tail is truncated away so that appending continues cleanly."""
    records: list[dict[str, Any]] = []
    with open(path, "rb") as fh:
        data = fh.read()
    good, unterminated = 0, False
    lines = data.split(b"\n")
    for k, line in enumerate(lines):
        last = k == len(lines) - 1
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            unterminated = last
        good += len(line) + (0 if last else 1)
    if repair and good < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good)
    elif repair and unterminated:  # a whole record whose newline was not written yet
        with open(path, "ab") as fh:
            fh.write(b"\n")
    return records
