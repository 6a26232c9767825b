"""What makes two runs the same job, and which job an output folder holds.

A run writes ``job.json`` into its folder before anything else: the target (a hash of its audio and
the note and length it was given, or ``auto``), the synth (backend, config name and a hash of the
space, sample rate and options), a phrase's notes (and whether probes may read it as one note), the strategy as data with the hash of any checkpoint it samples
from, the seed, the budget (and ``--time``) and what ``--refine`` may re-choose. A later run into the same folder
continues only that job (its archived renders count and seed the search); any other job is refused
with one line, or, with ``force``, the folder's own files are removed first so none is left stale."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ._io import write_json
from .audio import Target
from .errors import ConfigError
from .search import Strategy, canonical_definition
from .synths import SynthSpec

__all__ = ["OUTPUTS", "checkpoint_digest", "claim", "job_identity"]

# Everything a run writes into its folder (any other file there is the user's and is left alone).
OUTPUTS = ("job.json", "archive.jsonl", "probes.jsonl", "analysis.json", "results.json", "report.html", "notes.mid", "presets", "renders")


def checkpoint_digest(strategy: Strategy, space: Any) -> str | None:
    """The sha256 (16 hex digits) of the checkpoint the strategy's proposer samples from, if it has
    one (``+`` the surrogate's, if one ranks the samples). A retrained checkpoint keeps its file
    name, so the definition alone would not show it."""
    if strategy.proposer.name not in ("cnf", "regress"):
        return None
    from .ml.proposer import checkpoint_path, surrogate_path

    path = checkpoint_path(space, strategy.proposer.name, strategy.proposer.options.get("checkpoint"))
    if not path.is_file():
        return None
    critic = surrogate_path(space, dict(strategy.proposer.options))  # a surrogate that ranks the samples is part of the proposer
    return _digest(path) if critic is None or not critic.is_file() else f"{_digest(path)}+{_digest(critic)}"


def _digest(path: Path) -> str:
    stat = path.stat()
    return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """A file's sha256 (16 hex digits), read once per version of the file (checkpoints are megabytes,
    and every target of a batch or comparison asks again)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def job_identity(target: Target, spec: SynthSpec, strategy: Strategy, *, seed: int, budget: int, refine: str,
                 time_limit: float | None = None) -> dict[str, Any]:
    """The job as plain data (see the module docstring); equal identities make the same renders."""
    return {
        "target": hashlib.sha1(np.ascontiguousarray(target.audio).tobytes()).hexdigest()[:16],
        "note": target.note if target.note_source == "given" else "auto",
        "duration": target.duration if target.duration_source == "given" else "auto",
        "synth": spec.backend,
        "config": spec.space.name,
        "space": spec.key[:16],
        "strategy": strategy.name,
        "definition": strategy.definition(),
        "checkpoint": checkpoint_digest(strategy, spec.space),
        "seed": seed,
        "budget": budget,
        "time": time_limit,  # run --time: seconds for the whole run (then renders are not reproducible)
        "refine": refine,
        **({"phrase": [[n.onset, n.pitch, n.duration, n.velocity] for n in target.phrase]} if target.phrase else {}),
        **({"reading": "auto"} if target.single is not None else {}),  # probes choose phrase or one note (analysis.json)
    }


def claim(out: Path, identity: dict[str, Any], *, force: bool = False) -> bool:
    """Makes ``out`` this job's folder; returns whether it already holds this job's renders (resume).

    A folder holding another job's files (or files with no ``job.json``) is refused with a
    ConfigError naming what differs, unless ``force``: then those files are removed first. An
    ``out`` that cannot be a folder (a file, a read-only place) is a ConfigError too."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK):  # also a read-only filesystem
        raise ConfigError(f"--out {out}: cannot write there (read-only)")
    present = [name for name in OUTPUTS if (out / name).exists()]
    saved = _saved(out / "job.json")
    if saved == identity:
        return (out / "archive.jsonl").exists()
    if present and not force:
        differs = ", ".join(k for k in identity if saved is None or saved.get(k) != identity[k]) if saved is not None else "no job.json"
        raise ConfigError(f"{out} holds another job's results ({differs} differ); use --force to replace them, or another --out")
    for name in present:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    write_json(out / "job.json", identity)
    return False


def _saved(path: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(saved, dict):
        return None
    if isinstance(saved.get("definition"), dict):
        saved["definition"] = canonical_definition(saved["definition"])
    return saved
