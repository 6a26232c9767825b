"""Atomic writes: every output file appears whole or not at all (a temporary file, fsynced, then renamed)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write", "write_json", "write_npy", "write_wav"]


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Writes ``data`` to a temporary file next to ``path`` and renames it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_json(path: str | Path, obj: Any, *, indent: int | None = 1) -> Path:
    return atomic_write(path, json.dumps(obj, indent=indent).encode())


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, array)
    return atomic_write(path, buf.getvalue())


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """A float WAV of ``audio`` (shape ``(channels, n)`` or ``(n,)``)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32).T, sample_rate, format="WAV", subtype="FLOAT")
    return atomic_write(path, buf.getvalue())
