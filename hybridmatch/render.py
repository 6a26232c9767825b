"""RenderPool: persistent joblib workers that render and score candidates where the synth lives.

What a worker does with a task is in :mod:`hybridmatch.worker`. A worker that dies (segfault, abort) is replaced by loky and the candidates it held are
retried one per task, so only a candidate that kills a worker on its own is recorded as lost.

Why joblib/loky: it keeps workers alive between calls (the synth is built once per worker), starts
them with a clean interpreter (no fork of a parent that may hold a plugin), reports dead workers as
``TerminatedWorkerError`` and restarts them, and switches to a dask cluster with
``backend="dask"`` without changing this code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from .synths import SynthSpec
from .worker import (
    Evaluation,
    RenderJob,
    build,
    evaluate_units,
    failed,
    fingerprint,
    indexed,
    render_audio,
    render_with_presets,
    verify_units,
    watchdog,
    yield_to_parent,
)

__all__ = ["RenderJob", "Evaluation", "RenderPool", "end_workers", "fingerprint", "evaluate_units", "Stream", "lost_reason", "lost_worker_errors", "verify_units", "watchdog"]


def end_workers() -> None:
    """Ends the loky workers now, without waiting for them: for a command that is done with them.
    loky's own shutdown at interpreter exit waits for each worker to exit, 0.8 s after every run."""
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None)  # the reusable executor, if this process started one
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)


def _spent(executor: Any, workers: int) -> bool:
    """Whether a loky executor can take no more tasks for a pool of ``workers``: a worker died
    (broken), it was shut down, or it was resized for another pool. loky's own reuse test reads the
    same flags (``get_reusable_executor``)."""
    return bool(executor._flags.broken or executor._flags.shutdown or executor._max_workers != workers)


def lost_worker_errors(dask: bool) -> tuple[type[BaseException], ...]:
    """What a dead worker looks like: loky's TerminatedWorkerError, and dask's KilledWorker on a cluster."""
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    errors: list[type[BaseException]] = [TerminatedWorkerError]
    if dask:
        from distributed.scheduler import KilledWorker

        errors.append(KilledWorker)
    return tuple(errors)


def lost_reason(exc: BaseException, timeout: float | None) -> str:
    """Why a worker was lost, from loky's report of its exit code: the watchdog ends a hung render
    with faulthandler's exit status 1; any other end (a signal, another status) is a crash."""
    codes = re.search(r"exit codes of the workers are \{(.*?)\}", str(exc))
    if timeout is not None and codes is not None and codes.group(1) == "EXIT(1)":
        return f"render timed out (> {timeout:g} s); its worker was killed and replaced"
    return f"worker died ({codes.group(1)})" if codes is not None else f"worker died: {str(exc).splitlines()[0]}"


class RenderPool:
    """Scores batches of unit vectors on ``workers`` persistent processes.

    backend: ``"loky"`` (default, local processes), ``"dask"`` (a dask.distributed cluster at
    ``scheduler``, or a LocalCluster when none is given) or ``"sequential"`` (in this process).
    """

    def __init__(self, workers: int = 1, *, backend: str = "loky", scheduler: str | None = None, chunk: int | None = None) -> None:
        from .errors import ConfigError

        if workers < 1:
            raise ConfigError("--workers must be at least 1")
        if backend not in ("loky", "dask", "sequential"):
            raise ConfigError(f"unknown backend {backend!r}; use loky, dask or sequential")
        if backend == "sequential" and workers > 1:
            warnings.warn("RenderPool: backend 'sequential' ignores workers > 1; nothing runs in parallel", stacklevel=2)
        self.workers = workers
        self.backend = backend
        self.chunk = chunk
        self.first_render_at: float | None = None  # time.time() when the first scored render began
        self._warming: threading.Thread | None = None
        self._env: dict[str, str] | None = None  # the loky workers' environment (see _executor)
        self._loky: Any = None  # the executor this pool dispatches to (see _executor)
        self._loky_lock = threading.Lock()  # the warming thread and call_soon may ask for it at once
        self._client: Any = None
        if backend == "dask":
            try:
                from dask.distributed import Client
            except ImportError:
                raise ConfigError("the dask backend needs dask.distributed: pip install 'hybridmatch[dask]'") from None
            # A local cluster listens on the loopback only, with no dashboard: dask runs pickled code
            # for whoever reaches its scheduler.
            self._client = Client(scheduler) if scheduler else Client(n_workers=workers, threads_per_worker=1, processes=True,
                                                                        host="127.0.0.1", dashboard_address=None)

    def prewarm(self, spec: SynthSpec) -> None:
        """Starts the workers and builds ``spec``'s synth in each, in the background, while the caller
        loads the strategy (and a worker analyses the target, :meth:`call_soon`); the first renders then
        do not wait for process start, imports and plugin loads. The next dispatch waits for it to finish."""
        if self.backend == "loky" and (self.workers > 1 or spec.timeout is not None):
            self._executor()  # joblib imported here: one thread importing it while another uses it sees a half-made module
            self._warming = threading.Thread(target=self._warm, args=(spec,), daemon=True)
            self._warming.start()

    def call_soon(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
        """Starts ``fn(*args, **kwargs)`` on a worker now, where the pool has processes of its own to
        spare (loky, 2 workers or more), and returns what waits for its result (raising its exception);
        otherwise that call runs in this process when its result is asked for. ``run`` analyses the
        target this way while the parent loads the strategy's flow and optimizer."""
        if self.backend != "loky" or self.workers < 2:
            return functools.partial(fn, *args, **kwargs)
        future = self._executor().submit(indexed, functools.partial(fn, **kwargs), 0, args, os.getpid())
        return lambda: future.result()[1]

    def _warm(self, spec: SynthSpec) -> None:
        with contextlib.suppress(Exception):  # a synth that fails to build fails again, and is reported, on its first render
            for _ in self.map(build, [(spec,)] * self.workers, isolate=True):
                pass

    def _warmed(self) -> None:
        if self._warming is not None and self._warming is not threading.current_thread():
            self._warming.join()
            self._warming = None

    def close(self) -> None:
        self._warmed()
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _parallel(self) -> Any:
        from joblib import Parallel, parallel_config

        with parallel_config(backend="dask"):  # registers joblib's dask backend on the active Client
            return Parallel(n_jobs=-1, return_as="generator_unordered")

    def _executor(self) -> Any:
        """The pool's processes as a ``concurrent.futures`` executor: joblib's reusable loky executor
        with the worker environment joblib's ``Parallel`` gives (BLAS and OpenMP threads limited to
        cores / workers) and a lower CPU priority than this process (:func:`~hybridmatch.worker.yield_to_parent`),
        or the dask client's. The pool keeps the executor it got, so the workers (and the synths built
        in them) live as long as the pool, and asks joblib again only once a worker died or another
        pool took the executor over. Asking on every dispatch would leave one memmapping folder in
        ``/dev/shm`` per dispatch: each call makes a temporary-folder manager that only exit removes."""
        if self.backend == "dask":
            return self._client.get_executor()
        with self._loky_lock:
            if self._loky is None or _spent(self._loky, self.workers):
                from joblib.executor import get_memmapping_executor

                if self._env is None:
                    from joblib._parallel_backends import LokyBackend

                    self._env = LokyBackend()._prepare_worker_env(n_jobs=self.workers)
                self._loky = get_memmapping_executor(self.workers, timeout=300, env=self._env, initializer=yield_to_parent)
            return self._loky

    def _chunks(self, n: int) -> list[slice]:
        # One candidate per task by default: the executor hands the next task to whichever worker is free,
        # so a slow patch does not leave the other workers idle until the batch ends.
        size = self.chunk or 1
        return [slice(i, min(i + size, n)) for i in range(0, n, size)]

    def _run(self, fn: Any, job: RenderJob, units: np.ndarray, slices: Sequence[slice]) -> Iterator[tuple[slice, Any]]:
        for i, out in self.map(fn, [(job, units[s]) for s in slices], isolate=job.timeout is not None):
            yield slices[i], out

    def evaluate(self, job: RenderJob, units: np.ndarray) -> list[Evaluation]:
        """Scores ``units`` (shape ``(n, d)``); results come back in input order. A candidate whose
        worker died or hung comes back as a failed evaluation that says so."""
        weights = dict(job.weights) or None
        return self._collect(evaluate_units, job, units, lambda unit, why, took: failed(unit, why, took, weights))

    def map(self, fn: Any, tasks: Sequence[tuple[Any, ...]], *, isolate: bool = False) -> Iterator[tuple[int, Any]]:
        """``(index, fn(*task))`` for each task, in completion order, on the pool's workers. Every
        dispatch goes through here (scoring, rendering, dataset tasks that carry their own spec).

        ``isolate``: never run in this process, even with one worker (one unisolated worker is this
        process), so that a render watchdog can kill a hung plugin without killing the search."""
        from concurrent.futures import as_completed

        from joblib import delayed

        self._warmed()
        if self.backend == "sequential" or (self.workers == 1 and self.backend == "loky" and not isolate):
            for i, task in enumerate(tasks):
                yield i, fn(*task)
            return
        if self.backend == "dask":
            yield from self._parallel()(delayed(indexed)(fn, i, task, os.getpid()) for i, task in enumerate(tasks))
            return
        executor = self._executor()
        futures = [executor.submit(indexed, fn, i, task, os.getpid()) for i, task in enumerate(tasks)]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:  # Ctrl-C or a dead worker: what has not started never will
                future.cancel()

    def stream(self, job: RenderJob) -> Stream:
        """A :class:`Stream` that scores candidates for ``job`` one per task as they are submitted."""
        self._warmed()
        return Stream(self, job)

    def render(self, job: RenderJob, units: np.ndarray, *, with_presets: bool = True) -> list[tuple[np.ndarray, bytes]]:
        """Audio ``(channels, n)`` and native preset bytes for each unit vector, in input order; empty
        audio ``(1, 0)`` and no preset for one whose worker died or hung."""
        return self._collect(render_with_presets if with_presets else render_audio, job, units,
                             lambda unit, why, took: (np.zeros((1, 0), np.float32), b""))

    def verify(self, job: RenderJob, units: np.ndarray) -> list[tuple[Evaluation, np.ndarray, bytes]]:
        """:func:`verify_units` on the workers, in input order: scores, audio and presets of each
        unit rendered on a new synth instance (a failed evaluation for one whose worker died or hung)."""
        weights = dict(job.weights) or None
        return self._collect(verify_units, job, units,
                             lambda unit, why, took: (failed(unit, why, took, weights), np.zeros((1, 0), np.float32), b""))

    def _stamp_first(self, ev: Evaluation) -> None:
        if self.first_render_at is None:
            self.first_render_at = time.time() - ev.render_s - ev.score_s

    def _collect(self, fn: Any, job: RenderJob, units: np.ndarray, lost_item: Callable[[np.ndarray, str, float], Any]) -> list[Any]:
        """``fn``'s item for each unit, in input order. When a worker dies (a crash, or the watchdog
        ending a hung render), the candidates still pending are retried one per task, so the culprit is
        named: ``lost_item(unit, why, seconds)`` stands in for it and every other result is kept."""
        units = np.atleast_2d(np.asarray(units, dtype=np.float64))
        lost = lost_worker_errors(self.backend == "dask")
        out: dict[int, Any] = {}
        try:
            for s, items in self._run(fn, job, units, self._chunks(len(units))):
                for i, item in zip(range(s.start, s.stop), items, strict=True):
                    out[i] = item
                if isinstance(items[0], Evaluation):
                    self._stamp_first(items[0])
        except lost as exc:
            if "SIGINT" in str(exc):  # Ctrl-C reached a worker before it could ignore it: the user's stop
                raise KeyboardInterrupt from None
            for i in [i for i in range(len(units)) if i not in out]:
                t0 = time.perf_counter()
                try:
                    for _, items in self._run(fn, job, units, [slice(i, i + 1)]):
                        out[i] = items[0]
                except lost as exc:
                    out[i] = lost_item(units[i], lost_reason(exc, job.timeout), time.perf_counter() - t0)
        return [out[i] for i in range(len(units))]


class Stream:
    """Candidates for one job, scored one per task as they are submitted, collected in the order
    they were submitted (:meth:`RenderPool.stream`).

    The search keeps a window of candidates in flight and asks for the next one as soon as the
    oldest is told, so no worker waits for a round's slowest render. Collecting in submission order
    fixes the sequence of asks and tells, so a seeded search is the same on any number of workers.
    A candidate whose worker died or hung comes back failed, as from :meth:`RenderPool.evaluate`:
    everything still in flight is then scored again one per task. Closing cancels what has not started."""

    def __init__(self, pool: RenderPool, job: RenderJob) -> None:
        self._pool, self._job = pool, job
        self._inline = pool.backend == "sequential" or (pool.workers == 1 and pool.backend == "loky" and job.timeout is None)
        self._flight: deque[tuple[np.ndarray, Future[Any]]] = deque()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, future in self._flight:
            future.cancel()
        self._flight.clear()

    def submit(self, unit: np.ndarray) -> None:
        unit = np.asarray(unit, dtype=np.float64)[None]
        if self._inline:
            future: Future[Any] = Future()
            future.set_result((0, evaluate_units(self._job, unit)))
        else:
            future = self._pool._executor().submit(indexed, evaluate_units, 0, (self._job, unit), os.getpid())
        self._flight.append((unit, future))

    def ready(self) -> bool:
        """Whether the oldest candidate's score is in, so :meth:`next` would not wait."""
        return bool(self._flight) and self._flight[0][1].done()

    def next(self) -> Evaluation:
        """The oldest candidate's evaluation, waiting for it."""
        lost = lost_worker_errors(self._pool.backend == "dask")
        try:
            ev = self._flight[0][1].result()[1][0]
        except lost as exc:
            if "SIGINT" in str(exc):  # Ctrl-C reached a worker before it could ignore it: the user's stop
                raise KeyboardInterrupt from None
            self._rescore()
            ev = self._flight[0][1].result()[1][0]
        self._flight.popleft()
        self._pool._stamp_first(ev)
        return ev

    def _rescore(self) -> None:
        """Scores every candidate in flight whose result was lost again, one per task (the pool's
        recovery), and puts the outcomes in their places."""
        redo = [i for i, (_, future) in enumerate(self._flight) if not future.done() or future.cancelled() or future.exception() is not None]
        for i in redo:
            self._flight[i][1].cancel()
        evals = self._pool.evaluate(self._job, np.concatenate([self._flight[i][0] for i in redo]))
        for i, ev in zip(redo, evals, strict=True):
            done: Future[Any] = Future()
            done.set_result((0, [ev]))
            self._flight[i] = (self._flight[i][0], done)
