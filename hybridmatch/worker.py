"""What runs inside a render worker: the job and evaluation records, scoring a chunk of candidates,
rendering on fresh synth instances, and the watchdog that ends a hung render.

Each worker process builds its own synth from the picklable :class:`~hybridmatch.synths.SynthSpec`
the first time it sees a :class:`RenderJob` and caches it, with the target's features, keyed by the
job. A task renders a chunk of unit vectors and returns small records (objectives, loss, timings and a
48-float audio fingerprint), never audio. A candidate that raises gets the finite penalty and its
error text. :mod:`hybridmatch.render` dispatches these functions to the workers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio import Target
from .objectives import PARETO_KEYS, PENALTY, TargetFeatures, score, search_loss
from .phrase import Note, note_groups, render_phrase
from .synths import SynthSpec

__all__ = ["RenderJob", "Evaluation", "fingerprint", "failed", "evaluate_units", "render_units", "verify_units", "watchdog", "indexed", "build",
           "render_with_presets", "render_audio"]

FINGERPRINT_BANDS = 32
FINGERPRINT_FRAMES = 16


@dataclass(frozen=True)
class RenderJob:
    """Everything a worker needs to score candidates for one target (picklable)."""

    spec: SynthSpec
    target: np.ndarray  # (channels, n) at spec.sample_rate
    note: int  # one note held ``duration`` s from the start; of a phrase, its clearest note (see ``alone``)
    duration: float
    weights: Mapping[str, float] = field(default_factory=dict)
    phrase: tuple[Note, ...] = ()  # the notes each candidate plays; empty: the one note above

    @classmethod
    def of(cls, spec: SynthSpec, target: Target, weights: Mapping[str, float]) -> RenderJob:
        """The job of matching an analysed target: its audio, note, length and phrase."""
        return cls(spec, target.audio, target.note, target.duration, dict(weights), target.phrase)

    @property
    def seconds(self) -> float:
        return self.target.shape[-1] / self.spec.sample_rate

    @functools.cached_property
    def renders_each(self) -> int:
        """Synth renders per candidate: one, or one per distinct note of a phrase, unless the synth
        plays the phrase as one MIDI sequence (:func:`~hybridmatch.phrase.render_phrase`). Cached:
        the watchdog's ``timeout`` asks for it on every render."""
        return len(note_groups(self.phrase)) if self.phrase and not self.spec.plays_sequences else 1

    def play(self, synth: Any, values: Mapping[str, Any]) -> np.ndarray:
        """What a candidate sounds like: ``synth`` with ``values`` playing the job's note or phrase."""
        if self.phrase:
            return render_phrase(synth, values, self.phrase, seconds=self.seconds)
        return np.asarray(synth.render(values, note=self.note, duration=self.duration, seconds=self.seconds))

    def alone(self) -> RenderJob:
        """The job as one note, which is what a proposer conditions on: this job, or a phrase's clearest
        note (``note`` and ``duration``) cut from the target at its onset up to the next note's."""
        if not self.phrase:
            return self
        cue = min(self.phrase, key=lambda n: (n.pitch != self.note, abs(n.duration - self.duration)))  # the note (note, duration) names
        later = [n.onset for n in self.phrase if n.onset > cue.onset]
        start = int(round(cue.onset * self.spec.sample_rate))
        end = int(round(min(later, default=self.seconds) * self.spec.sample_rate))
        return RenderJob(self.spec, self.target[:, start:end], self.note, self.duration, self.weights)

    @property
    def timeout(self) -> float | None:
        """Seconds one render may take before the watchdog kills its worker: the synth config's
        ``[render] timeout`` plus the render's own length (a long target takes longer), or None."""
        return None if self.spec.timeout is None else (self.spec.timeout + self.seconds) * self.renders_each

    @functools.cached_property
    def key(self) -> str:
        """Identity of the job; computed once in the parent and pickled with the job, so workers
        do not hash the target on every task."""
        h = hashlib.sha1()
        h.update(np.ascontiguousarray(self.target).tobytes())
        h.update(repr((self.spec.backend, self.spec.space.to_dict(), self.spec.sample_rate, dict(self.spec.options))).encode())
        h.update(repr((self.note, self.duration, sorted(self.weights.items()), self.phrase)).encode())
        return h.hexdigest()

    @functools.cached_property
    def _shipped(self) -> tuple[str, bytes]:
        """The job pickled once (with its key), and a digest of those bytes."""
        payload = pickle.dumps((self.spec, self.target, self.note, self.duration, dict(self.weights), self.phrase, self.key),
                               protocol=pickle.HIGHEST_PROTOCOL)
        return hashlib.sha1(payload).hexdigest(), payload

    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        """A job travels with every task (one candidate each in a search) and holds the target and
        the whole parameter space: pickling it costs the parent a millisecond and unpickling the
        worker another. So it is pickled once, and a worker that has unpickled the same bytes before
        reuses that job."""
        return _unship, self._shipped


_JOBS: dict[str, RenderJob] = {}  # jobs this process has unpickled, by the digest of their bytes


def _unship(digest: str, payload: bytes) -> RenderJob:
    job = _JOBS.get(digest)
    if job is None:
        spec, target, note, duration, weights, phrase, key = pickle.loads(payload)
        job = RenderJob(spec, target, note, duration, weights, phrase)
        job.__dict__["key"] = key  # the parent's hash, as before: a worker never hashes the target
        if len(_JOBS) >= 2:
            _JOBS.pop(next(iter(_JOBS)))
        _JOBS[digest] = job
    return job


@dataclass
class Evaluation:
    """One scored candidate. ``objectives`` holds mss, wmfcc, sot and rms (= 1 - cosine)."""

    unit: np.ndarray
    objectives: dict[str, float]
    loss: float
    render_s: float = 0.0
    score_s: float = 0.0
    fingerprint: np.ndarray = field(default_factory=lambda: np.zeros(0))
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "unit": [float(u) for u in self.unit],
            "objectives": self.objectives,
            "loss": self.loss,
            "render_s": round(self.render_s, 6),
            "score_s": round(self.score_s, 6),
            "fingerprint": [round(float(x), 4) for x in self.fingerprint],
            "error": self.error,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Evaluation:
        return cls(
            unit=np.asarray(rec["unit"], dtype=np.float64),
            objectives={k: float(v) for k, v in rec["objectives"].items()},
            loss=float(rec["loss"]),
            render_s=float(rec.get("render_s", 0.0)),
            score_s=float(rec.get("score_s", 0.0)),
            fingerprint=np.asarray(rec.get("fingerprint", []), dtype=np.float64),
            error=rec.get("error"),
        )


def fingerprint(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A 48-float sketch of a sound for diversity checks: 32 log-spaced band levels (dB, mean-removed)
    and a 16-point peak-normalized RMS envelope. Shape ``(48,)``."""
    mono = np.asarray(audio, dtype=np.float64).reshape(-1, audio.shape[-1]).mean(axis=0)
    if mono.size == 0 or not np.all(np.isfinite(mono)) or np.abs(mono).max() == 0:
        return np.zeros(FINGERPRINT_BANDS + FINGERPRINT_FRAMES)
    spec = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(mono.size, 1 / sample_rate)
    edges = np.geomspace(30.0, sample_rate / 2, FINGERPRINT_BANDS + 1)
    idx = np.clip(np.searchsorted(edges, freqs) - 1, 0, FINGERPRINT_BANDS - 1)
    bands = np.bincount(idx, weights=spec, minlength=FINGERPRINT_BANDS)
    bands_db = 10 * np.log10(bands + 1e-12)
    bands_db = np.maximum(bands_db, bands_db.max() - 80.0)
    bands_db = (bands_db - bands_db.mean()) / 10.0
    frames = np.array_split(mono**2, FINGERPRINT_FRAMES)
    env = np.sqrt(np.array([f.mean() if f.size else 0.0 for f in frames]))
    env = env / max(env.max(), 1e-12)
    return np.concatenate([bands_db, env])


_SYNTHS: dict[str, Any] = {}  # one synth instance per worker process (a plugin is loaded once)
_FEATURES: dict[str, TargetFeatures] = {}
_IN_WORKER = False  # set by indexed() in pool workers; the watchdog never arms in the parent
_DEVNULL: Any = None
WORKER_NICE = 10  # see yield_to_parent
LEAK_ALLOWANCE = 1_000_000_000  # bytes a loky worker may grow after its first task before loky replaces it (see yield_to_parent)


def _synth_for(spec: SynthSpec) -> Any:
    if spec.key not in _SYNTHS:
        _SYNTHS.clear()  # drop (and unload) the previous instance before building the next
        _SYNTHS[spec.key] = spec.build()
    return _SYNTHS[spec.key]


def _worker_state(job: RenderJob) -> tuple[Any, TargetFeatures]:
    synth = _synth_for(job.spec)
    if job.key not in _FEATURES:
        if len(_FEATURES) >= 2:
            _FEATURES.pop(next(iter(_FEATURES)))
        _FEATURES[job.key] = TargetFeatures(job.target, job.spec.sample_rate)
    return synth, _FEATURES[job.key]


def _new_instance(spec: SynthSpec) -> Any:
    """A new instance of ``spec``'s synth: the worker's own one renewed where its backend can do that
    faster than a build (``renewed``, Vital), else a new build."""
    renew = getattr(_synth_for(spec), "renewed", None)
    return renew() if renew is not None else spec.build()


def build(spec: SynthSpec) -> None:
    """A worker's synth for ``spec``, and the scoring code, loaded ahead of the first render."""
    _synth_for(spec)
    clip = np.random.default_rng(0).standard_normal((1, spec.sample_rate // 10)).astype(np.float32) * 0.1
    score(TargetFeatures(clip, spec.sample_rate), clip)


@contextlib.contextmanager
def watchdog(timeout: float | None) -> Iterator[None]:
    """Kills this worker process if the enclosed render takes longer than ``timeout`` seconds.

    faulthandler's timer is a C thread that needs no GIL, so it also fires when a plugin hangs inside
    native code. The pool sees a dead worker, replaces it and retries the pending candidates one per
    task, so the hung one is recorded as failed and the search goes on."""
    if timeout is None or not _IN_WORKER:
        yield
        return
    global _DEVNULL
    import faulthandler

    if _DEVNULL is None:
        _DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - kept open for the worker's life
    faulthandler.dump_traceback_later(timeout, repeat=False, file=_DEVNULL, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def failed(unit: np.ndarray, why: str, took: float, weights: Mapping[str, float] | None) -> Evaluation:
    """A candidate that could not be rendered: the finite penalty, and why."""
    penalty = {k: PENALTY[k] for k in PARETO_KEYS}
    return Evaluation(unit, penalty, search_loss(penalty, weights), render_s=took, error=why)


def evaluate_units(job: RenderJob, units: np.ndarray) -> list[Evaluation]:
    """Renders and scores each unit vector (runs inside a worker, or in-process when sequential)."""
    synth, features = _worker_state(job)
    weights = dict(job.weights) or None
    out = []
    for unit in np.atleast_2d(units):
        t0 = time.perf_counter()
        try:
            with watchdog(job.timeout):
                audio = job.play(synth, job.spec.space.to_native(unit))
        except Exception as exc:  # a bad patch must not end the run
            out.append(failed(unit, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, weights))
            continue
        t1 = time.perf_counter()
        objectives = score(features, audio)
        fp = fingerprint(audio, job.spec.sample_rate)
        t2 = time.perf_counter()
        out.append(Evaluation(unit, objectives, search_loss(objectives, weights), t1 - t0, t2 - t1, fp))
    return out


def render_units(job: RenderJob, units: np.ndarray, with_presets: bool = True) -> list[tuple[np.ndarray, bytes]]:
    """Audio and native preset bytes for each unit vector (used for the few returned patches only).

    Each is rendered on a new synth instance, so its audio (and the scores ``run`` reports for it) is
    the sound of the preset as loaded, whatever the worker rendered before: Vital keeps filter state
    from one render to the next (results/journal.md, "Vital's render state")."""
    import tempfile
    from pathlib import Path

    out = []
    for unit in np.atleast_2d(units):
        synth = _new_instance(job.spec)
        values = job.spec.space.to_native(unit)
        with watchdog(job.timeout):
            audio = job.play(synth, values)
        preset = b""
        if with_presets:
            with tempfile.TemporaryDirectory() as tmp:
                preset = synth.export(values, Path(tmp) / f"patch{job.spec.preset_ext}").read_bytes()
        out.append((np.asarray(audio, dtype=np.float32), preset))
    return out


def verify_units(job: RenderJob, units: np.ndarray) -> list[tuple[Evaluation, np.ndarray, bytes]]:
    """Each unit rendered on a new synth instance (as :func:`render_units`), scored, with its preset.

    ``run`` ranks its returned set by these scores, not by the search's: a synth whose renders depend
    on the renders before them (Vital, unless every render gets a new engine) is then judged by the
    sound each preset makes as loaded. The objectives include ``mfccd``, so the parent scores nothing
    itself. A patch that fails comes back as a failed evaluation."""
    _, features = _worker_state(job)
    weights = dict(job.weights) or None
    out: list[tuple[Evaluation, np.ndarray, bytes]] = []
    for unit in np.atleast_2d(units):
        t0 = time.perf_counter()
        try:
            ((audio, preset),) = render_units(job, unit[None], True)
        except Exception as exc:
            out.append((failed(unit, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0, weights), np.zeros((1, 0), np.float32), b""))
            continue
        t1 = time.perf_counter()
        objectives = score(features, audio, names=(*PARETO_KEYS, "mfccd"))  # mfccd too: results.json reports it for the returned set
        fp = fingerprint(audio, job.spec.sample_rate)
        out.append((Evaluation(unit, objectives, search_loss(objectives, weights), t1 - t0, time.perf_counter() - t1, fp), audio, preset))
    return out


def render_with_presets(job: RenderJob, units: np.ndarray) -> list[tuple[np.ndarray, bytes]]:
    return render_units(job, units, True)


def render_audio(job: RenderJob, units: np.ndarray) -> list[tuple[np.ndarray, bytes]]:
    return render_units(job, units, False)


def _worker_ignores_sigint(parent_pid: int) -> None:
    """Ctrl-C is the parent's to handle (it stops the search and writes the best set). A worker that
    died of it would look like a crash and be retried, swallowing the user's stop. joblib runs
    ``n_jobs=1`` in the parent itself, which must keep its handler, hence the pid check."""
    import contextlib
    import signal

    if os.getpid() != parent_pid and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        with contextlib.suppress(ValueError):  # not the main thread (a dask worker thread): nothing to do
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def yield_to_parent() -> None:
    """Runs first in each loky worker: lowers its CPU priority by ``WORKER_NICE``. The parent process
    is the one the workers wait on (the target's analysis and the flow before the first render, the
    optimizer's asks during the search), and on 2 cores its work otherwise shares a core with two
    workers. Where the OS has no ``nice``, or refuses it, the worker runs as is.

    It also raises loky's allowance for memory growth: loky replaces a worker whose memory grows
    300 MB past its size after its first task, taking that for a leak. The worker that analyses a
    run's target (:meth:`~hybridmatch.render.RenderPool.call_soon`) loads librosa for pYIN, about
    190 MB, on top of its synth. Under the default allowance loky replaced that worker during
    Vital's searches (it warns "A worker stopped while some jobs were given to the executor"), and
    the new worker had to start and build the synth again."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICE)
    from joblib.externals.loky import process_executor

    if hasattr(process_executor, "_MAX_MEMORY_LEAK_SIZE"):
        process_executor._MAX_MEMORY_LEAK_SIZE = max(process_executor._MAX_MEMORY_LEAK_SIZE, LEAK_ALLOWANCE)


def indexed(fn: Any, i: int, task: tuple[Any, ...], parent_pid: int) -> tuple[int, Any]:
    global _IN_WORKER
    _IN_WORKER = os.getpid() != parent_pid
    _worker_ignores_sigint(parent_pid)
    return i, fn(*task)
