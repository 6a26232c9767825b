"""Surrogate pre-selection inside the search: the optimizer proposes several candidates per render,
and only the one a model of the synth predicts nearest the target is rendered and told."""

from __future__ import annotations

import contextlib
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["Screen", "make_screen"]


class Screen:
    """Turns an optimizer's asks into patches to render. Of every ``k`` candidates asked, the one whose
    patch ``score`` (a surrogate's predicted distance from the target, lower is nearer) ranks first
    is kept. The others are never told: the optimizer learns only from rendered losses, and its
    generations are formed of screened candidates (pre-selection); with no ``score``, every ask is
    rendered. ``decode`` turns candidates into
    the unit vectors that are rendered, ``group`` renders' worth at a time: a flow decodes a batch
    in about the time of one sample, so a latent search asks ahead rather than decode one by one."""

    def __init__(self, k: int, score: Callable[[np.ndarray], np.ndarray] | None, decode: Callable[[list[Any]], np.ndarray], group: int = 1) -> None:
        self.k = k
        self.score = score
        self.decode = decode
        self.group = group
        self._ready: dict[int, deque[tuple[Any, np.ndarray]]] = {}

    def ask(self, optimizer: Any) -> tuple[Any, np.ndarray]:
        """(the candidate to tell, the unit vector to render)."""
        ready = self._ready.setdefault(id(optimizer), deque())
        if not ready:
            cands = [optimizer.ask() for _ in range(self.k * self.group)]
            units = self.decode(cands)
            scores = np.zeros(len(units)) if self.score is None else self.score(units)
            for start in range(0, len(cands), self.k):
                best = start + int(np.argmin(scores[start : start + self.k]))
                ready.append((cands[best], units[best]))
        return ready.popleft()

    @contextlib.contextmanager
    def told(self) -> Iterator[None]:
        """Where the optimizer is told. An elitist pycma CMA-ES injects its best point into each
        generation, and when the screen passes it over pycma warns of an "orphaned injected
        solution" on the next tell: screened out by design, so that warning is silenced here."""
        with warnings.catch_warnings():
            if self.score is not None:
                from cma.evolution_strategy import InjectionWarning

                warnings.simplefilter("ignore", InjectionWarning)
            yield


def make_screen(k: int, job: Any, surrogate: bool | str, decode: Callable[[list[Any]], np.ndarray], group: int = 1) -> Screen:
    """A :class:`Screen` of ``k`` for ``job``'s target (its clearest note, for a phrase), scored by the
    ``surrogate`` checkpoint (True: the shipped one for the job's space). ``k`` = 1 renders every ask."""
    if k <= 1:
        return Screen(1, None, decode, group)
    from ..ml.proposer import load_surrogate

    alone = job.alone()
    critic = load_surrogate(job.spec.space, surrogate)
    return Screen(k, critic.scorer(alone.target, alone.spec.sample_rate, alone.note, alone.duration), decode, group)
