"""The scripts' last step: print a markdown report and, given a path, write it there atomically."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hybridmatch._io import atomic_write  # noqa: E402


def emit(lines: list[str], out: Path | None) -> None:
    """Prints ``lines`` as one text, ending in a newline, and writes it to ``out`` when given."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    print(text)
    if out is not None:
        atomic_write(out, text.encode())
