"""One synth parameter and its unit-interval face: kinds, scales, priors and symmetry groups.

See :mod:`hybridmatch.space` for how parameters make a space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigError

__all__ = ["Kind", "Native", "Param", "Prior", "Scale", "SymmetryGroup", "parse_param"]

Kind = Literal["continuous", "integer", "choice"]
Scale = Literal["linear", "log", "skew"]
Native = float | int | str


@dataclass(frozen=True)
class Prior:
    """Sampling prior on one coordinate: with probability ``p_const`` the parameter takes ``const``
    (the synth-permutations "constant with probability p" prior), otherwise it is uniform on the unit
    sub-range ``[lo, hi]``."""

    lo: float = 0.0
    hi: float = 1.0
    const: Native | None = None
    p_const: float = 0.0


@dataclass(frozen=True)
class Param:
    """One searchable parameter. ``name`` is the synth's own name for it."""

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 1.0
    scale: Scale = "linear"
    skew: float = 1.0
    values: tuple[Native, ...] = ()
    default: Native | None = None
    prior: Prior = field(default_factory=Prior)
    label: str = ""

    @property
    def n_bins(self) -> int:
        """Number of discrete values (0 for continuous)."""
        if self.kind == "choice":
            return len(self.values)
        if self.kind == "integer":
            return int(self.high - self.low) + 1
        return 0

    def to_native(self, u: float) -> Native:
        u = min(max(float(u), 0.0), 1.0)
        if self.kind == "continuous":
            if self.scale == "log":
                return float(self.low * (self.high / self.low) ** u)
            if self.scale == "skew":
                return float(self.low + (self.high - self.low) * u**self.skew)
            return float(self.low + (self.high - self.low) * u)
        index = min(int(u * self.n_bins), self.n_bins - 1)
        if self.kind == "integer":
            return int(self.low) + index
        return self.values[index]

    def index_of(self, value: Native) -> int:
        """Bin index of a discrete native value."""
        if self.kind == "integer":
            index = int(round(float(value))) - int(self.low)
        else:
            matches = [i for i, v in enumerate(self.values) if v == value or str(v) == str(value)]
            if not matches:
                raise ConfigError(f"{self.name}: {value!r} is not one of {list(self.values)}")
            index = matches[0]
        if not 0 <= index < self.n_bins:
            raise ConfigError(f"{self.name}: {value!r} is outside [{self.low}, {self.high}]")
        return index

    def to_unit(self, value: Native) -> float:
        if self.kind != "continuous":
            return (self.index_of(value) + 0.5) / self.n_bins
        v = float(value)
        if self.scale == "log":
            u = math.log(v / self.low) / math.log(self.high / self.low)
        elif self.scale == "skew":
            u = max((v - self.low) / (self.high - self.low), 0.0) ** (1.0 / self.skew)
        else:
            u = (v - self.low) / (self.high - self.low)
        return min(max(u, 0.0), 1.0)


@dataclass(frozen=True)
class SymmetryGroup:
    """Slots whose contents can be permuted without changing the sound (e.g. oscillators 1-3).

    ``slots[i][j]`` is the name of the j-th parameter of slot i; every slot lists the same roles."""

    name: str
    slots: tuple[tuple[str, ...], ...]


def _parse_prior(raw: Any, name: str) -> Prior:
    if raw is None:
        return Prior()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"param {name}: prior must be a table")
    unknown = set(raw) - {"lo", "hi", "const", "p"}
    if unknown:
        raise ConfigError(f"param {name}: unknown prior keys {sorted(unknown)}")
    prior = Prior(
        lo=float(raw.get("lo", 0.0)),
        hi=float(raw.get("hi", 1.0)),
        const=raw.get("const"),
        p_const=float(raw.get("p", 0.0 if raw.get("const") is None else 1.0)),
    )
    if not (0.0 <= prior.lo <= prior.hi <= 1.0) or not 0.0 <= prior.p_const <= 1.0:
        raise ConfigError(f"param {name}: prior needs 0 <= lo <= hi <= 1 and 0 <= p <= 1")
    return prior


def parse_param(raw: Mapping[str, Any]) -> Param:
    try:
        name = str(raw["name"])
        kind = raw["kind"]
    except KeyError as exc:
        raise ConfigError(f"every [[param]] needs a {exc.args[0]!r}") from None
    if kind not in ("continuous", "integer", "choice"):
        raise ConfigError(f"param {name}: kind must be continuous, integer or choice, not {kind!r}")
    known = {"name", "kind", "low", "high", "scale", "skew", "values", "default", "prior", "label"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"param {name}: unknown keys {sorted(unknown)}")
    values = tuple(raw.get("values", ()))
    if kind == "choice" and len(values) < 2:
        raise ConfigError(f"param {name}: a choice needs at least two values")
    low = float(raw.get("low", 0.0))
    high = float(raw.get("high", 1.0 if kind != "integer" else 0.0))
    scale = raw.get("scale", "linear")
    if scale not in ("linear", "log", "skew"):
        raise ConfigError(f"param {name}: scale must be linear, log or skew")
    if kind != "choice" and not high > low:
        raise ConfigError(f"param {name}: needs high > low")
    if scale == "log" and low <= 0:
        raise ConfigError(f"param {name}: a log scale needs low > 0")
    param = Param(
        name=name,
        kind=kind,
        low=low,
        high=high,
        scale=scale,
        skew=float(raw.get("skew", 1.0)),
        values=values,
        default=raw.get("default"),
        prior=_parse_prior(raw.get("prior"), name),
        label=str(raw.get("label", "")),
    )
    const = param.prior.const
    if const is not None:
        if kind == "continuous" and not low <= float(const) <= high:
            raise ConfigError(f"param {name}: prior constant {const} is outside [{low}, {high}]")
        param.to_unit(const)  # validates discrete constants
    return param
