"""A nevergrad ``Choice`` over bin indices that skips nevergrad's per-option bookkeeping."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._ng import nevergrad

__all__ = ["bin_choice"]


def bin_choice(n: int, repetitions: int) -> Any:
    """``ng.p.Choice(range(n), repetitions=repetitions)``, drawn and learned the same way.

    nevergrad keeps each option of a ``Choice`` as a constant parameter and walks all of them on every
    copy, freeze and constraint check, several times per ask and tell: on DX7's 22 choices (one
    ``Choice`` per size, 44 options) that was half of the parent's 15 ms a candidate. The options
    here are the bin indices themselves, so the value is read straight off the softmax-sampled
    weights and nothing else is kept. The weights, their layer and hence every draw are nevergrad's
    own (``tests/test_space.py`` checks that CMA-ES, the GA and hill climbing ask the same with either)."""
    return _bins_class()(n, repetitions)


@functools.cache
def _bins_class() -> type:
    ng = nevergrad()
    from nevergrad.parametrization import _datalayers, container

    class Bins(ng.p.Choice):  # type: ignore[misc, name-defined]
        def __init__(self, n: int, repetitions: int) -> None:
            indices = ng.p.Array(shape=(repetitions, n), mutable_sigma=False)
            indices.add_layer(_datalayers.SoftmaxSampling(n, deterministic=False))
            self._repetitions = repetitions
            self._arity = n
            container.Container.__init__(self, indices=indices)  # no ``choices`` child: the options are the indices

        def __len__(self) -> int:
            return self._arity

        def _layered_get_value(self) -> tuple[int, ...]:
            return tuple(int(i) for i in self.indices.value)

        def _layered_set_value(self, value: Any) -> None:
            self._check_frozen()
            self.indices.value = np.asarray(value, dtype=int).reshape(-1)

        def get_value_hash(self) -> Any:
            value = self._layered_get_value()
            return value if len(value) > 1 else value[0]

        def mutate(self) -> None:
            self.random_state  # noqa: B018 - nevergrad's own sync of the random state before mutating
            self.indices.mutate()

    return Bins
