"""Training sets for the CNF: random patches from a config's priors, rendered through the RenderPool.

Layout of a dataset folder (every array is a plain ``.npy``, memory-mappable)::

    meta.json                      the synth spec, seed, shard size and feature settings (checked on resume)
    shard_00000.units.npy          (k, d) float32 unit vectors
    shard_00000.mel.npy            (k, N_MELS, N_FRAMES) float16 log-mel of the (augmented) render
    shard_00000.cond.npy           (k, 3) float32 MIDI note, note length in seconds and the (augmented)
                                   clip's RMS level in dBFS (``features.level_db``; shards written
                                   before it have 2 columns, and :meth:`FlowData.batch` gives NaN)
    shard_00000.json               written last: the shard is complete (kept / rejected / render time, and
                                   ``crashed``: each patch that killed its worker, by crash or hang)
    stats.json                     totals, renders per second, per-parameter means, mel mean

Each shard draws from its own seed ``(seed, shard)``, so a killed run resumes at the first
incomplete shard and produces the same data as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_json, write_npy
from ..errors import ConfigError
from ..render import RenderPool, lost_reason, lost_worker_errors, watchdog
from ..synths import SynthSpec
from .features import CLIP_SECONDS, FEATURE_RATE, N_FRAMES, N_MELS, Augment, level_db, logmel

__all__ = ["build_dataset", "FlowData", "MIN_LUFS"]

MIN_LUFS = -55.0
_TASK = 16  # renders per worker task: big enough to amortise pickling, small enough to balance
MIN_KEEP_RATE = 0.25  # a shard's rounds render at most 4x their shortfall
_WORKER_SYNTHS: dict[str, Any] = {}


def _synth(spec: SynthSpec) -> Any:
    key = repr((spec.backend, spec.space.name, spec.sample_rate, sorted(dict(spec.options).items())))
    if key not in _WORKER_SYNTHS:
        _WORKER_SYNTHS.clear()
        _WORKER_SYNTHS[key] = spec.build()
    return _WORKER_SYNTHS[key]


def _limit(spec: SynthSpec, duration: float) -> float | None:
    """Seconds a dataset render of a note held ``duration`` may take (the config's timeout beyond its length)."""
    return None if spec.timeout is None else spec.timeout + duration + float(spec.render.get("release", 0.5))


def _render_features(
    spec: SynthSpec, units: np.ndarray, cond: np.ndarray, seed: int, augment: Augment | None, min_lufs: float
) -> tuple[list[tuple[np.ndarray, float] | None], float]:
    """Worker side: ((log-mel, level dBFS) or ``None`` when rejected, for each unit) and the seconds
    spent rendering."""
    import pyloudnorm

    synth = _synth(spec)
    meter = pyloudnorm.Meter(spec.sample_rate)
    release = float(spec.render.get("release", 0.5))
    rng = np.random.default_rng(seed)
    out: list[tuple[np.ndarray, float] | None] = []
    render_s = 0.0
    for unit, (note, duration) in zip(units, cond, strict=True):
        t0 = time.perf_counter()
        try:
            with watchdog(_limit(spec, float(duration))):  # a hang kills this worker
                audio = synth.render(spec.space.to_native(unit), note=int(note), duration=float(duration), seconds=float(duration) + release)
        except Exception:  # a patch the engine refuses is simply not in the dataset
            out.append(None)
            continue
        render_s += time.perf_counter() - t0
        audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
        if not np.all(np.isfinite(audio)) or float(np.abs(audio).max(initial=0.0)) < 1e-5:
            out.append(None)
            continue
        with np.errstate(divide="ignore"):
            lufs = meter.integrated_loudness(audio.T.astype(np.float64))
        if not np.isfinite(lufs) or lufs < min_lufs:
            out.append(None)
            continue
        if augment is not None:
            audio = augment(audio, spec.sample_rate, rng)
        out.append((logmel(audio, spec.sample_rate).astype(np.float16), level_db(audio, spec.sample_rate)))
    return out, render_s


def _meta(spec: SynthSpec, seed: int, shard: int, augment: Augment | None, min_lufs: float) -> dict[str, Any]:
    return {
        "backend": spec.backend,
        "config": spec.space.name,
        "space": spec.space.to_dict(),
        "sample_rate": spec.sample_rate,
        "render": dict(spec.render),
        "seed": seed,
        "shard": shard,
        "augment": None if augment is None else augment.__dict__,
        "min_lufs": min_lufs,
        "features": {"clip_seconds": CLIP_SECONDS, "n_mels": N_MELS, "n_frames": N_FRAMES, "rate": FEATURE_RATE},
    }


def _open(out: Path, meta: dict[str, Any]) -> None:
    """Creates ``out`` with its ``meta.json``, or checks that an existing one was made with ``meta``."""
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "meta.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if {k: old.get(k) for k in meta} != json.loads(json.dumps(meta)):
            raise ConfigError(f"{out} holds a dataset made with other settings (synth, seed, shard size or augmentation); use a new --out")
    else:
        write_json(meta_path, meta)


@dataclass
class _Counter:
    """Renders made this run, their render seconds and how many were kept (for ``on_progress``)."""

    n: int
    kept: int
    on_progress: Callable[[int, int, float], None] | None
    renders: int = 0
    render_s: float = 0.0
    t0: float = field(default_factory=time.perf_counter)

    def add(self, feats: list[Any], seconds: float) -> None:
        self.renders += len(feats)
        self.render_s += seconds
        self.kept += sum(f is not None for f in feats)
        if self.on_progress:
            self.on_progress(min(self.kept, self.n), self.n, self.rate())

    def rate(self) -> float:
        return self.renders / max(time.perf_counter() - self.t0, 1e-9)


def _render_tasks(pool: RenderPool, tasks: list[tuple[Any, ...]], crashed: list[dict[str, Any]],
                  counter: _Counter) -> dict[int, list[tuple[np.ndarray, float] | None]]:
    """Each task's features (see :func:`_render_features`). When a worker dies (a crash, or the
    watchdog ending a hung render), the unfinished tasks are rerun one patch per task, so the patch
    that killed it is found: it is rejected and recorded in ``crashed``, and its task's other patches
    are kept. A resumed run therefore never replays it (the shard is written with the record)."""
    isolate = tasks[0][0].timeout is not None  # the watchdog must never fire in this process
    results: dict[int, list[tuple[np.ndarray, float] | None]] = {}
    try:
        for j, (feats, seconds) in pool.map(_render_features, tasks, isolate=isolate):
            results[j] = feats
            counter.add(feats, seconds)
    except lost_worker_errors(False) as exc:
        if "SIGINT" in str(exc):
            raise KeyboardInterrupt from None
        for j in (j for j in range(len(tasks)) if j not in results):
            results[j] = [_render_alone(pool, tasks[j], k, crashed, counter, isolate) for k in range(len(tasks[j][1]))]
    return results


def _render_alone(pool: RenderPool, task: tuple[Any, ...], k: int, crashed: list[dict[str, Any]], counter: _Counter,
                  isolate: bool) -> tuple[np.ndarray, float] | None:
    """Patch ``k`` of ``task`` in a task of its own: its features, or None (recorded) when it kills its worker."""
    spec, units, cond, seed, augment, min_lufs = task
    try:
        ((_, (feats, seconds)),) = list(pool.map(_render_features, [(spec, units[k : k + 1], cond[k : k + 1], seed + k, augment, min_lufs)],
                                                 isolate=isolate))
    except lost_worker_errors(False) as exc:
        why = lost_reason(exc, _limit(spec, float(cond[k][1])))
        crashed.append({"unit": [round(float(u), 6) for u in units[k]], "note": int(cond[k][0]), "duration": round(float(cond[k][1]), 4), "why": why})
        feats, seconds = [None], 0.0
    counter.add(feats, seconds)
    return feats[0]


def _keep_rate(out: Path, shard: int) -> float:
    """The share of renders the shard before ``shard`` kept (1 for the first): each round of a shard
    renders its shortfall divided by it. Read from the shard's record, so a resumed run renders what
    an uninterrupted one would."""
    record = out / f"shard_{shard - 1:05d}.json"
    if shard == 0 or not record.exists():
        return 1.0
    done = json.loads(record.read_text())
    return max(done["kept"] / max(done["kept"] + done["rejected"], 1), MIN_KEEP_RATE)


def _render_shard(spec: SynthSpec, pool: RenderPool, rng: np.random.Generator, want: int, augment: Augment | None, min_lufs: float,
                  counter: _Counter, crashed: list[dict[str, Any]], keep_rate: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Renders prior patches until ``want`` are kept: (units, log-mels, conditioning, rejected). A
    patch that kills its worker is rejected and appended to ``crashed``. Each round renders the
    shortfall over ``keep_rate``, then over this shard's own rate, so few renders are left over."""
    lo_note, hi_note = (int(v) for v in spec.render.get("note_range", (60, 60)))
    lo_dur, hi_dur = (float(v) for v in spec.render.get("duration_range", (1.0, 1.0)))
    units: list[np.ndarray] = []
    mels: list[np.ndarray] = []
    conds: list[np.ndarray] = []
    rejected = 0
    while len(units) < want:
        if len(units) + rejected:
            keep_rate = max(len(units) / (len(units) + rejected), MIN_KEEP_RATE)
        m = int(np.ceil((want - len(units)) / keep_rate))
        cand = spec.space.sample(rng, m)
        cond = np.stack([rng.integers(lo_note, hi_note + 1, m), rng.uniform(lo_dur, hi_dur, m)], axis=1)
        tasks = [(spec, cand[s : s + _TASK], cond[s : s + _TASK], int(rng.integers(2**31)), augment, min_lufs) for s in range(0, m, _TASK)]
        results = _render_tasks(pool, tasks, crashed, counter)
        for j in sorted(results):  # task order, so the shard does not depend on timing
            for k, feat in enumerate(results[j]):
                if feat is None:
                    rejected += 1
                elif len(units) < want:
                    units.append(cand[j * _TASK + k])
                    mels.append(feat[0])
                    conds.append(np.append(cond[j * _TASK + k], feat[1]))
    return np.asarray(units, dtype=np.float32), np.asarray(mels, dtype=np.float16), np.asarray(conds, dtype=np.float32), rejected


def _stats(out: Path, n_shards: int, counter: _Counter, workers: int) -> dict[str, Any]:
    data = FlowData(out)
    all_units = data.units()
    records = [json.loads((out / f"shard_{i:05d}.json").read_text()) for i in range(n_shards)]
    total_rejected = sum(r["rejected"] for r in records)
    elapsed = time.perf_counter() - counter.t0
    return {
        "n": len(data),
        "rejected": total_rejected,
        "reject_rate": round(total_rejected / max(len(data) + total_rejected, 1), 4),
        "crashed": sum(len(r.get("crashed", [])) for r in records),  # patches that killed their worker (crash or hang), in the shard records
        "wall_s_this_run": round(elapsed, 2),
        "renders_this_run": counter.renders,
        "renders_per_s_this_run": round(counter.renders / max(elapsed, 1e-9), 2),
        "render_s_per_render": round(counter.render_s / max(counter.renders, 1), 5),
        "workers": workers,
        "unit_mean": all_units.mean(axis=0).round(4).tolist(),
        "unit_std": all_units.std(axis=0).round(4).tolist(),
        "mel_mean": float(np.mean([m.mean() for m in data.iter_mel()])),
    }


def build_dataset(
    spec: SynthSpec,
    *,
    n: int,
    out: str | Path,
    workers: int = 1,
    seed: int = 0,
    shard: int = 1024,
    augment: Augment | None = None,
    min_lufs: float = MIN_LUFS,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Renders until ``n`` patches are kept (resuming any complete shards in ``out``); returns stats.

    ``on_progress(kept, n, renders_per_second)`` is called after each worker task."""
    if n < 1 or shard < 1:
        raise ConfigError("--n and the shard size must be at least 1")
    out = Path(out)
    _open(out, _meta(spec, seed, shard, augment, min_lufs))
    n_shards = -(-n // shard)
    done = [out / f"shard_{i:05d}.json" for i in range(n_shards)]
    counter = _Counter(n, sum(json.loads(d.read_text())["kept"] for d in done if d.exists()), on_progress)
    with RenderPool(workers) as pool:
        for i in (i for i in range(n_shards) if not done[i].exists()):
            shard_t0 = time.perf_counter()
            crashed: list[dict[str, Any]] = []
            arrays = _render_shard(spec, pool, np.random.default_rng([seed, i]), min(shard, n - i * shard), augment, min_lufs, counter, crashed,
                                   _keep_rate(out, i))
            stem = out / f"shard_{i:05d}"
            for suffix, array in zip((".units.npy", ".mel.npy", ".cond.npy"), arrays[:3], strict=True):
                write_npy(stem.with_suffix(suffix), array)
            write_json(done[i], {"kept": len(arrays[0]), "rejected": arrays[3], "wall_s": round(time.perf_counter() - shard_t0, 2),
                                 "crashed": crashed}, indent=None)
    stats = _stats(out, n_shards, counter, workers)
    write_json(out / "stats.json", stats)
    return stats


@dataclass
class FlowData:
    """A dataset folder opened read-only; shards are memory-mapped, never loaded whole."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        meta_path = self.root / "meta.json"
        if not meta_path.exists():
            raise ConfigError(f"{self.root} is not a dataset (no meta.json); make one with `hybridmatch dataset`")
        self.meta = json.loads(meta_path.read_text())
        stems = sorted(p.with_suffix("").with_suffix("") for p in self.root.glob("shard_*.json"))
        self._units = [np.load(f"{s}.units.npy", mmap_mode="r") for s in stems]
        self._mel = [np.load(f"{s}.mel.npy", mmap_mode="r") for s in stems]
        self._cond = [np.load(f"{s}.cond.npy", mmap_mode="r") for s in stems]
        sizes = np.array([len(u) for u in self._units], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)])
        if self._offsets[-1] == 0:
            raise ConfigError(f"{self.root} has no complete shards yet")

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def has_level(self) -> bool:
        """Every shard records the clip level (a model can train with ``--level``)."""
        return all(c.shape[1] >= 3 for c in self._cond)

    def units(self) -> np.ndarray:
        return np.concatenate([np.asarray(u) for u in self._units])

    def iter_mel(self) -> Iterator[np.ndarray]:
        yield from self._mel

    def split(self, holdout: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(train, held-out) global indices; the held-out split is fixed by ``seed``."""
        idx = np.random.default_rng(seed).permutation(len(self))
        k = max(1, int(round(len(self) * holdout))) if len(self) > 1 else 0
        return np.sort(idx[k:]), np.sort(idx[:k])

    def batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(units float32, log-mel float32, cond float32) for global indices ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        shard = np.searchsorted(self._offsets, idx, side="right") - 1
        units = np.empty((len(idx), self._units[0].shape[1]), dtype=np.float32)
        mel = np.empty((len(idx), N_MELS, N_FRAMES), dtype=np.float32)
        cond = np.full((len(idx), 3), np.nan, dtype=np.float32)
        for s in np.unique(shard):
            rows = np.nonzero(shard == s)[0]
            local = idx[rows] - self._offsets[s]
            units[rows] = self._units[s][local]
            mel[rows] = self._mel[s][local]
            cond[rows, : self._cond[s].shape[1]] = self._cond[s][local]
        return units, mel, cond
