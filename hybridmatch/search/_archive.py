"""Archive: every evaluated candidate, appended to ``archive.jsonl`` as it arrives."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..render import Evaluation

__all__ = ["Archive", "read_objectives"]


class Archive:
    """In-memory list of :class:`Evaluation` plus an append-only JSONL file (one line per render).

    Each line is flushed and fsynced before :meth:`extend` returns, so a killed run loses nothing
    that was evaluated."""

    def __init__(self, path: str | Path | None = None, *, append: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: list[Evaluation] = []
        self.origins: list[str] = []
        self._best = -1  # index of the lowest loss so far (the first of equals), kept as entries arrive
        self._fh: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if append and self.path.exists():
                for rec in _read_lines(self.path, repair=True):
                    self._add(Evaluation.from_record(rec), str(rec.get("origin", "")))
            self._fh = open(self.path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115

    def __len__(self) -> int:
        return len(self.entries)

    def extend(self, evals: Iterable[Evaluation], origin: str = "") -> None:
        lines = []
        for ev in evals:
            lines.append(json.dumps({"i": len(self.entries), "origin": origin, **ev.to_record()}))
            self._add(ev, origin)
        if self._fh is not None and lines:
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def _add(self, ev: Evaluation, origin: str) -> None:
        if self._best < 0 or ev.loss < self.entries[self._best].loss:
            self._best = len(self.entries)
        self.entries.append(ev)
        self.origins.append(origin)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def losses(self) -> np.ndarray:
        return np.array([e.loss for e in self.entries])

    def best(self) -> Evaluation:
        """The lowest-loss entry (the first of equals), without a pass over the archive: the progress
        line asks after every few renders."""
        if self._best < 0:
            raise ValueError("an empty archive has no best entry")
        return self.entries[self._best]

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
            archive._add(Evaluation.from_record(rec), str(rec.get("origin", "")))
        return archive


def _read_lines(path: Path, *, repair: bool = False) -> Iterator[dict[str, Any]]:
    """The intact records of an archive, read one line at a time (memory: one record). A line cut by
    a kill ends the file (everything before it was fsynced); with ``repair`` the cut tail is truncated
    away, once the records are read, so that appending continues cleanly."""
    good, unterminated = 0, False
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break
                yield record
            good += len(line)
            unterminated = not line.endswith(b"\n")
    if not repair:
        return
    if good < path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(good)
    elif unterminated:  # a whole record whose newline was not written yet
        with open(path, "ab") as fh:
            fh.write(b"\n")


def read_objectives(path: str | Path, keys: Sequence[str]) -> np.ndarray:
    """The ``keys`` objectives of every successful render in an archive file, shape ``(n, len(keys))``,
    without holding the renders themselves (the report's scatter of a run of any size)."""
    rows = [[rec["objectives"][k] for k in keys] for rec in _read_lines(Path(path)) if rec.get("error") is None]
    return np.array(rows, dtype=np.float64).reshape(-1, len(keys))
