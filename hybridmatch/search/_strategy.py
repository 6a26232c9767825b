"""Strategies: a proposer plus an optimizer, declared as data in ``strategies/*.toml``.

A strategy file has the tables ``[proposer]`` and ``[optimizer]`` (each with an ``options``
sub-table passed through to the proposer or the nevergrad optimizer) and an optional ``[loss]`` of
objective weights. Every key of the two tables is declared once in ``_KEYS``: its type, its range
and what it means, so a wrong one is refused with one line before anything renders.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, check_name
from ..objectives import DEFAULT_WEIGHTS, PARETO_KEYS
from ..space import ParamSpace
from ._optimizers import OPTIMIZERS

__all__ = ["Strategy", "canonical_definition", "ProposerSpec", "OptimizerSpec", "load_strategy", "PROPOSERS", "propose"]


@dataclass(frozen=True)
class ProposerSpec:
    """``[proposer]``: ``name`` makes ``n`` initial candidates, rendered first and counted in the budget."""

    name: str = "none"
    n: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptimizerSpec:
    """``[optimizer]``: the proposals' best ``modes`` clusters each seed one ``name`` optimizer
    (``"none"``: no search, the whole budget goes to proposals).

    ``hold`` is the probability that a candidate keeps all of its seed's discrete choices
    (``ParamSpace.hold_choices``); unset, nevergrad's own reset applies. ``race`` > 0 races the
    modes: after ``race`` renders each, only the best mode so far goes on with the rest of the
    budget. ``latent`` > 0 searches the flow's starting noise instead of the patch space, with that
    step: every candidate is decoded by the flow, conditioned on the target, into a patch (needs
    proposer ``cnf``). ``screen`` > 1 asks that many candidates per render and renders the one a
    surrogate of the synth predicts nearest the target (``[proposer.options] surrogate``, else the
    shipped one), so the optimizer learns from screened candidates (``_screen.Screen``)."""

    name: str
    modes: int = 1
    hold: float | None = None
    race: int = 0
    latent: float = 0.0
    screen: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Strategy:
    """A named proposer + optimizer pair and the loss weights they search under."""

    name: str
    optimizer: OptimizerSpec
    proposer: ProposerSpec = field(default_factory=ProposerSpec)
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    description: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, name: str = "") -> Strategy:
        name = check_name("strategy", raw.get("name", name))
        opt, prop = raw.get("optimizer"), raw.get("proposer", {})
        if not isinstance(opt, Mapping) or "name" not in opt:
            raise ConfigError(f"strategy {name}: needs an [optimizer] table with a name")
        if not isinstance(prop, Mapping):
            raise ConfigError(f"strategy {name}: [proposer] must be a table")
        strategy = cls(name=name, optimizer=OptimizerSpec(**_table(name, "optimizer", opt)), proposer=ProposerSpec(**_table(name, "proposer", prop)),
                       weights=_weights(name, raw.get("loss", DEFAULT_WEIGHTS)), description=str(raw.get("description", "")))
        strategy._check_combination()
        return strategy

    @property
    def surrogate(self) -> bool | str:
        """The surrogate a screen scores with: the proposer's (``[proposer.options] surrogate``),
        else the shipped one for the config (True)."""
        return self.proposer.options.get("surrogate", True)  # type: ignore[no-any-return]

    def definition(self) -> dict[str, Any]:
        """What a search depends on: the strategy as JSON data, less its name and description, in
        the form of :func:`canonical_definition`."""
        d = dataclasses.asdict(self)
        for key in ("name", "description"):
            d.pop(key)
        return canonical_definition(json.loads(json.dumps(d)))

    def _check_combination(self) -> None:
        opt, prop = self.optimizer, self.proposer
        if opt.latent and (prop.name != "cnf" or opt.name == "none"):
            raise ConfigError(f"strategy {self.name}: [optimizer] latent searches a flow's noise space; it needs proposer 'cnf' and an optimizer")
        if opt.latent and opt.hold is not None:
            raise ConfigError(f"strategy {self.name}: [optimizer] hold shapes patch-space steps; it does not apply with latent")
        if opt.name == "none" and prop.name == "none":
            raise ConfigError(f"strategy {self.name}: optimizer 'none' needs a proposer")

    def check(self, space: ParamSpace) -> None:
        """Fails fast (ConfigError) if the proposer cannot serve ``space`` (e.g. no checkpoint) or an
        optimizer option is wrong: before anything renders."""
        check = getattr(PROPOSERS[self.proposer.name], "check", None)
        if check is not None:
            check(space, self.proposer.options)
        if self.optimizer.name != "none":
            from ._optimizers import make_optimizer

            make_optimizer(self.optimizer.name, space.to_nevergrad(seed=0), budget=1, num_workers=1, options=dict(self.optimizer.options))
        if self.optimizer.screen > 1:
            from ..ml.proposer import load_surrogate

            load_surrogate(space, self.surrogate)


def _defaults(spec: type) -> dict[str, Any]:
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc, operator]
            for f in dataclasses.fields(spec) if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def canonical_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded definition without the keys of ``[optimizer]`` and ``[proposer]`` that hold their
    default. A key added to a table later defaults to the behaviour before it, so a run recorded
    before the key existed and one recorded with it at its default are the same search, and
    resuming or comparing either under today's strategy continues it."""
    out = dict(definition)
    for table, spec in (("optimizer", OptimizerSpec), ("proposer", ProposerSpec)):
        if isinstance(out.get(table), Mapping):
            defaults = _defaults(spec)
            out[table] = {k: v for k, v in out[table].items() if k not in defaults or v != defaults[k]}
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# (table, key) -> (test, what a valid value is); every key a strategy table may hold
_KEYS: dict[tuple[str, str], tuple[Callable[[Any], bool], str]] = {
    ("proposer", "name"): (lambda v: v in PROPOSERS, "a registered proposer"),
    ("proposer", "n"): (lambda v: _is_int(v) and v >= 0, "a whole number >= 0"),
    ("proposer", "options"): (lambda v: isinstance(v, Mapping), "a table"),
    ("optimizer", "name"): (lambda v: v in OPTIMIZERS or v == "none", "a registered optimizer or none"),
    ("optimizer", "modes"): (lambda v: _is_int(v) and v >= 1, "a whole number >= 1"),
    ("optimizer", "hold"): (lambda v: _is_number(v) and 0.0 < v < 1.0, "a probability in (0, 1)"),
    ("optimizer", "race"): (lambda v: _is_int(v) and v >= 0, "a whole number of renders >= 0"),
    ("optimizer", "latent"): (lambda v: _is_number(v) and v >= 0.0, "a step size >= 0 in the flow's noise space"),
    ("optimizer", "screen"): (lambda v: _is_int(v) and v >= 1, "a whole number >= 1 of candidates asked per render"),
    ("optimizer", "options"): (lambda v: isinstance(v, Mapping), "a table"),
}


def _table(strategy: str, table: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``ProposerSpec`` / ``OptimizerSpec`` from a TOML table, each key checked."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if (table, key) not in _KEYS:
            known = ", ".join(k for t, k in _KEYS if t == table)
            raise ConfigError(f"strategy {strategy}: unknown key {key!r} in [{table}]; known: {known}")
        ok, what = _KEYS[(table, key)]
        if not ok(value):
            known = f" ({', '.join(sorted(PROPOSERS if table == 'proposer' else [*OPTIMIZERS, 'none']))})" if key == "name" else ""
            raise ConfigError(f"strategy {strategy}: [{table}] {key} must be {what}{known}, got {value!r}")
        out[key] = dict(value) if isinstance(value, Mapping) else float(value) if key in ("hold", "latent") else value
    return out


def _weights(strategy: str, raw: Any) -> dict[str, float]:
    if not isinstance(raw, Mapping) or not all(_is_number(v) and v >= 0 for v in raw.values()):
        raise ConfigError(f"strategy {strategy}: [loss] must map objectives to weights >= 0")
    bad = set(raw) - set(PARETO_KEYS)
    if bad:
        raise ConfigError(f"strategy {strategy}: unknown loss terms {sorted(bad)}; known: {', '.join(PARETO_KEYS)}")
    return {k: float(v) for k, v in raw.items()}


def load_strategy(path: str | Path) -> Strategy:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"strategy file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    return Strategy.from_dict(raw, name=path.stem)


def _none(space: ParamSpace, n: int, rng: np.random.Generator, **_: Any) -> np.ndarray:
    return np.zeros((0, space.dim))


def _random(space: ParamSpace, n: int, rng: np.random.Generator, **_: Any) -> np.ndarray:
    return space.sample(rng, n)


def _from_checkpoint(kind: str) -> Any:
    """A proposer backed by a trained checkpoint; torch is imported only when one is used. Its
    ``check`` fails fast on a bad option, or when the checkpoint is missing or was trained for
    another space."""

    def proposer(space: ParamSpace, n: int, rng: np.random.Generator, **context: Any) -> np.ndarray:
        from ..ml.proposer import propose_from_checkpoint

        return propose_from_checkpoint(kind, space, n, rng, **context)

    def check(space: ParamSpace, options: Mapping[str, Any]) -> None:
        from ..ml.proposer import check_options, load_for, load_surrogate

        check_options(kind, dict(options))
        load_for(space, kind, options.get("checkpoint"))
        if options.get("surrogate"):
            load_surrogate(space, options["surrogate"])

    proposer.check = check  # type: ignore[attr-defined]
    return proposer


PROPOSERS: dict[str, Any] = {"none": _none, "random": _random, "cnf": _from_checkpoint("cnf"), "regress": _from_checkpoint("regress")}


def propose(name: str, space: ParamSpace, n: int, rng: np.random.Generator, **context: Any) -> np.ndarray:
    """Initial population, shape ``(n, d)`` unit vectors."""
    return np.asarray(PROPOSERS[name](space, n, rng, **context), dtype=np.float64).reshape(-1, space.dim)
