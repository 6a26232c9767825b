"""Progress for long commands: a rich bar on a terminal, a plain line every 30 s in a log."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress", "progress_display"]


def progress_display() -> Any:
    """A rich progress display on stderr, or None when stderr is not a terminal (logs, CI, pipes)."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    return RichProgress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


class Progress:
    """One progress bar (done/total, a status line, elapsed and remaining time). Silent with
    ``quiet``. When stderr is not a terminal (a log file, CI, a pipe) it writes a plain line at most
    every ``LOG_EVERY`` seconds instead, and a last one on close, so short runs print nothing and
    long ones leave a readable trace. ``display`` shares one rich display between bars (batch: one
    bar per file under the overall one); the bar is removed from it on close."""

    LOG_EVERY = 30.0

    def __init__(self, total: int, *, quiet: bool, label: str = "matching", display: Any = None, deadline: Any = None) -> None:
        self._t0 = self._logged = time.perf_counter()
        self._deadline = deadline  # a search.Deadline: the bar counts seconds of it, not renders
        self._total: int = round(deadline.seconds) if deadline is not None else total
        self._label = f"{label} (s)" if deadline is not None else label
        self._own = display is None
        self._bar: Any = None if quiet else (display if display is not None else progress_display())
        self._log = not quiet and self._bar is None
        self._last: tuple[int, str] | None = None
        self._wrote = False
        self._pool: Any = None
        self._started = 0.0
        if self._bar is not None:
            if self._own:
                self._bar.start()
            self._task = self._bar.add_task(label, total=total, info="")

    def update(self, done: int, info: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, info=info)
        elif self._log:
            self._last = (done, info)
            if time.perf_counter() - self._logged >= self.LOG_EVERY:
                self._write(done, info)

    def _write(self, done: int, info: str) -> None:
        now = time.perf_counter()
        print(f"{self._label}: {done}/{self._total} {info} ({now - self._t0:.0f} s)", file=sys.stderr, flush=True)
        self._logged, self._wrote = now, True

    def watch(self, pool: Any, started: float) -> None:
        """Shows when ``pool``'s first render began, in seconds from ``started`` (``time.time()``)."""
        self._pool, self._started = pool, started

    def _first_render(self) -> str:
        at = getattr(self._pool, "first_render_at", None)
        return f" | first render at {at - self._started:.1f} s" if at is not None else ""

    def __call__(self, archive: Any) -> None:
        """The search's progress callback: the archive so far (an :class:`~hybridmatch.search.Archive`)."""
        if not len(archive):
            return
        best = archive.best()
        rate = len(archive) / max(time.perf_counter() - self._t0, 1e-9)
        done = len(archive) if self._deadline is None else min(round(time.perf_counter() - self._deadline.at + self._deadline.seconds), self._total)
        self.update(done, f"{len(archive)} renders, loss {best.loss:.3f} mss {best.objectives['mss']:.2f} wmfcc {best.objectives['wmfcc']:.1f} "
                          f"| {rate:.1f} renders/s{self._first_render()}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._log and self._wrote and self._last is not None:
            self._write(*self._last)
            self._log = False
        if self._bar is None:
            return
        if self._own:
            self._bar.stop()
        else:
            self._bar.remove_task(self._task)
        self._bar = None
