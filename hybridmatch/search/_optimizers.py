"""nevergrad optimizer adapters, registered by name. Each is a configured factory:
``factory(parametrization, budget, num_workers, **options) -> nevergrad optimizer`` (ask/tell)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .._ng import nevergrad
from ..errors import ConfigError

__all__ = ["OPTIMIZERS", "make_optimizer", "register_optimizer"]

Factory = Callable[..., Any]
OPTIMIZERS: dict[str, Factory] = {}


def register_optimizer(name: str) -> Callable[[Factory], Factory]:
    def deco(fn: Factory) -> Factory:
        if name in OPTIMIZERS:
            raise ConfigError(f"optimizer {name!r} is already registered")
        OPTIMIZERS[name] = fn
        return fn

    return deco


def make_optimizer(name: str, parametrization: Any, *, budget: int, num_workers: int, options: dict[str, Any] | None = None) -> Any:
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; registered: {', '.join(sorted(OPTIMIZERS))}")
    try:
        return OPTIMIZERS[name](parametrization, budget=budget, num_workers=num_workers, **(options or {}))
    except (TypeError, ValueError, AssertionError) as exc:  # nevergrad checks option values with all three
        raise ConfigError(f"optimizer {name!r}: bad options: {exc}") from None


def _uniform_crossover() -> Any:
    """A nevergrad recombination layer: uniform crossover. Each gene (array element, or one repeated
    choice's weight row) comes from a random other parent with probability 1/2."""
    ng = nevergrad()

    class UniformCrossover(ng.p.mutation.DataMutation):  # type: ignore[misc, name-defined]
        def _layered_recombine(self, *others: Any) -> None:
            root = self.root()
            if not others:
                return
            rng = root.random_state
            donor = others[rng.randint(len(others))]
            own = root.get_standardized_data(reference=root)
            theirs = donor.get_standardized_data(reference=root)
            shape = np.shape(root.value)
            if len(shape) == 2:  # choice weights (repetitions, options): swap whole rows (one gene each)
                mask = np.repeat(rng.rand(shape[0]) < 0.5, shape[1])
            else:
                mask = rng.rand(own.size) < 0.5
            root.set_standardized_data(np.where(mask, theirs, own), reference=root)

    return UniformCrossover()


def _with_crossover(parametrization: Any) -> Any:
    for child in parametrization.values() if hasattr(parametrization, "values") else []:
        target = child.indices if hasattr(child, "indices") else child
        _uniform_crossover()(target, inplace=True)
    return parametrization


@register_optimizer("cma")
def _cma(param: Any, *, budget: int, num_workers: int, popsize: int | None = None, scale: float = 1.0, elitist: bool = False) -> Any:
    ng = nevergrad()

    config = ng.optimizers.ParametrizedCMA(popsize=popsize, scale=scale, elitist=elitist)
    optimizer = _cached_cma()(param, budget=budget, num_workers=num_workers, config=config)
    optimizer.name = config.name
    return optimizer


@functools.cache
def _cached_cma() -> type:
    """nevergrad's CMA-ES, with its pycma instance looked up once it exists. nevergrad's ``es``
    property rebuilds a ``Normalizer`` of the whole parametrization on every access (once per ask
    batch and once per tell) to choose the initial step, which only matters when the instance is
    made: on the 145 DX7 fields that cost 10 ms a tell, more than a third of a Dexed render. The
    instance, its restarts (``stop()``) and the steps are nevergrad's own."""
    from nevergrad.optimization.optimizerlib import _CMA

    class CachedCMA(_CMA):  # type: ignore[misc]
        @property
        def es(self) -> Any:
            if self._es is not None and (self._config.fcmaes or not self._es.stop()):
                return self._es
            return _CMA.es.fget(self)

    return CachedCMA


@register_optimizer("ga")
def _ga(param: Any, *, budget: int, num_workers: int, popsize: int = 24, offsprings: int = 24, recombination_ratio: float = 0.7) -> Any:
    """Steady-generational GA: (popsize + offsprings) truncation selection, mutation of every child
    and uniform crossover with probability ``recombination_ratio`` (nevergrad EvolutionStrategy)."""
    ng = nevergrad()

    config = ng.families.EvolutionStrategy(
        recombination_ratio=recombination_ratio, popsize=popsize, offsprings=offsprings, only_offsprings=False
    )
    return config(_with_crossover(param), budget=budget, num_workers=num_workers)


@register_optimizer("hillclimb")
def _hillclimb(param: Any, *, budget: int, num_workers: int, mutation: str = "discrete") -> Any:
    """(1+1) hill climbing; ``discrete`` mutation changes each coordinate with probability 1/d."""
    ng = nevergrad()

    return ng.families.ParametrizedOnePlusOne(mutation=mutation)(param, budget=budget, num_workers=num_workers)


@register_optimizer("de")
def _de(param: Any, *, budget: int, num_workers: int, popsize: str | int = "standard", crossover: str = "twopoints") -> Any:
    ng = nevergrad()

    return ng.families.DifferentialEvolution(popsize=popsize, crossover=crossover)(param, budget=budget, num_workers=num_workers)


@register_optimizer("random")
def _random(param: Any, *, budget: int, num_workers: int) -> Any:
    """Uniform sampling of the bounded space (nevergrad's parametrization sampler)."""
    ng = nevergrad()

    return ng.families.RandomSearchMaker(sampler="parametrization")(param, budget=budget, num_workers=num_workers)


@register_optimizer("ngopt")
def _ngopt(param: Any, *, budget: int, num_workers: int) -> Any:
    ng = nevergrad()

    return ng.optimizers.NGOpt(param, budget=budget, num_workers=num_workers)
