"""Typed synth parameter spaces with two faces: unit vectors for searchers, native values for synths.

A :class:`ParamSpace` is loaded from ``configs/synths/*.toml``. Every parameter owns one coordinate
of the unit cube ``[0, 1]^d``:

- ``continuous``: ``linear``, ``log`` or ``skew`` (``low + (high - low) * u ** skew``) scaling;
- ``integer``: ``n = high - low + 1`` equal bins, native value ``low + bin``;
- ``choice``: ``k`` equal bins over an explicit list of native values (strings, ints, floats).

Discrete coordinates decode by bin, and a discrete native value encodes to its bin's centre, so
``to_unit(to_native(u))`` is a fixed point and ``to_native(to_unit(v)) == v`` exactly. Optimizers
never see the bins: :meth:`ParamSpace.to_nevergrad` gives nevergrad integers as evenly spaced points
of a bounded array and choices as ``ng.p.Choice``; the CNF sees choices as one-hot blocks
(:meth:`ParamSpace.to_model`).

Example
-------
>>> space = ParamSpace.from_dict({"param": [
...     {"name": "cutoff", "kind": "continuous", "low": 20.0, "high": 20000.0, "scale": "log"},
...     {"name": "wave", "kind": "choice", "values": ["sine", "saw"]}]})
>>> space.to_native(np.array([0.0, 0.9]))
{'cutoff': 20.0, 'wave': 'saw'}
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._ng import nevergrad
from ._ngchoice import bin_choice
from ._param import Native, Param, Prior, SymmetryGroup, parse_param
from .errors import ConfigError

__all__ = ["Param", "Prior", "SymmetryGroup", "ParamSpace", "load_space", "read_config"]


class _NgGroup(NamedTuple):
    """One child of :meth:`ParamSpace.to_nevergrad`: its coordinates, their bin counts (1 when
    continuous), which are integers, and how many bins one unit of the ``num`` array spans for each
    (an integer's bin ``b`` sits at ``b / spans``)."""

    idx: np.ndarray
    bins: np.ndarray
    ints: np.ndarray
    spans: np.ndarray


class ParamSpace:
    """An ordered set of :class:`Param` plus symmetry groups and fixed native settings.

    ``fixed`` holds native settings that are applied on every render but never searched; ``meta``
    holds backend-specific data (e.g. modulation routings) that the synth interprets.
    """

    def __init__(
        self,
        params: Sequence[Param],
        *,
        symmetries: Sequence[SymmetryGroup] = (),
        fixed: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        name: str = "",
    ) -> None:
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"duplicate parameter names: {duplicates}")
        if not params:
            raise ConfigError("a parameter space needs at least one [[param]]")
        self.params: tuple[Param, ...] = tuple(params)
        self.index: dict[str, int] = {n: i for i, n in enumerate(names)}
        self.symmetries = tuple(symmetries)
        self.fixed: dict[str, Any] = dict(fixed or {})
        self.meta: dict[str, Any] = dict(meta or {})
        self.name = name
        self._ng = self._ng_layout()  # asked for on every candidate: computed once
        for group in self.symmetries:
            widths = {len(slot) for slot in group.slots}
            if len(widths) != 1:
                raise ConfigError(f"symmetry {group.name}: every slot must list the same roles")
            for slot in group.slots:
                for member in slot:
                    if member not in self.index:
                        raise ConfigError(f"symmetry {group.name}: unknown parameter {member!r}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, name: str = "") -> ParamSpace:
        """Builds a space from a parsed TOML table (see ``configs/synths``)."""
        params = [parse_param(p) for p in raw.get("param", [])]
        symmetries = []
        for group in raw.get("symmetry", []):
            try:
                symmetries.append(
                    SymmetryGroup(str(group["name"]), tuple(tuple(map(str, s)) for s in group["slots"]))
                )
            except (KeyError, TypeError):
                raise ConfigError("every [[symmetry]] needs a name and a list of slots") from None
        return cls(
            params,
            symmetries=symmetries,
            fixed=raw.get("fixed", {}),
            meta=raw.get("meta", {}),
            name=name or str(raw.get("name", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The inverse of :meth:`from_dict`; the result serializes to TOML or JSON."""
        out: dict[str, Any] = {"name": self.name, "param": []}
        for p in self.params:
            entry: dict[str, Any] = {"name": p.name, "kind": p.kind}
            if p.kind == "choice":
                entry["values"] = list(p.values)
            else:
                entry.update(low=p.low, high=p.high)
            if p.kind == "continuous" and p.scale != "linear":
                entry["scale"] = p.scale
                if p.scale == "skew":
                    entry["skew"] = p.skew
            if p.default is not None:
                entry["default"] = p.default
            if p.prior != Prior():
                prior: dict[str, Any] = {"lo": p.prior.lo, "hi": p.prior.hi}
                if p.prior.const is not None:
                    prior.update(const=p.prior.const, p=p.prior.p_const)
                entry["prior"] = prior
            if p.label:
                entry["label"] = p.label
            out["param"].append(entry)
        if self.symmetries:
            out["symmetry"] = [{"name": g.name, "slots": [list(s) for s in g.slots]} for g in self.symmetries]
        if self.fixed:
            out["fixed"] = dict(self.fixed)
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    # ------------------------------------------------------------------ basic faces
    @property
    def dim(self) -> int:
        return len(self.params)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __len__(self) -> int:
        return len(self.params)

    def _check(self, unit: np.ndarray) -> np.ndarray:
        unit = np.asarray(unit, dtype=np.float64)
        if unit.shape[-1] != self.dim:
            raise ConfigError(f"expected unit vectors of length {self.dim}, got shape {unit.shape}")
        if not np.all(np.isfinite(unit)):
            raise ConfigError("unit vector contains NaN or inf")
        return np.clip(unit, 0.0, 1.0)

    def to_native(self, unit: np.ndarray) -> dict[str, Native]:
        """Unit vector, shape ``(d,)`` → ``{name: native value}``."""
        unit = self._check(unit)
        return {p.name: p.to_native(u) for p, u in zip(self.params, unit, strict=True)}

    def to_unit(self, values: Mapping[str, Native]) -> np.ndarray:
        """``{name: native value}`` → unit vector, shape ``(d,)``. Missing names use the default."""
        out = np.empty(self.dim)
        for i, p in enumerate(self.params):
            if p.name in values:
                out[i] = p.to_unit(values[p.name])
            elif p.default is not None:
                out[i] = p.to_unit(p.default)
            else:
                raise ConfigError(f"no value and no default for parameter {p.name!r}")
        return out

    def snap(self, unit: np.ndarray) -> np.ndarray:
        """Moves discrete coordinates to their bin centres (the canonical unit vector)."""
        unit = self._check(unit).copy()
        for i, p in enumerate(self.params):
            if p.kind != "continuous":
                n = p.n_bins
                unit[..., i] = (np.minimum(np.floor(unit[..., i] * n), n - 1) + 0.5) / n
        return unit

    def default_unit(self) -> np.ndarray:
        """Unit vector of the declared defaults (centre of the range where none is declared)."""
        return np.array([p.to_unit(p.default) if p.default is not None else 0.5 for p in self.params])

    # ------------------------------------------------------------------ priors
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draws ``n`` unit vectors from the declared priors, shape ``(n, d)``."""
        out = np.empty((n, self.dim))
        for i, p in enumerate(self.params):
            col = p.prior.lo + (p.prior.hi - p.prior.lo) * rng.random(n)
            if p.prior.const is not None and p.prior.p_const > 0:
                const = rng.random(n) < p.prior.p_const
                col[const] = p.to_unit(p.prior.const)
            out[:, i] = col
        return self.snap(out) if n else out

    # ------------------------------------------------------------------ symmetries
    def permute(self, unit: np.ndarray, group: str | SymmetryGroup, perm: Sequence[int]) -> np.ndarray:
        """Moves the contents of slot ``perm[i]`` into slot ``i`` of ``group``."""
        g = group if isinstance(group, SymmetryGroup) else {s.name: s for s in self.symmetries}[group]
        unit = np.array(unit, dtype=np.float64, copy=True)
        source = unit.copy()
        for dst, src in enumerate(perm):
            for a, b in zip(g.slots[dst], g.slots[src], strict=True):
                unit[..., self.index[a]] = source[..., self.index[b]]
        return unit

    def orbit(self, unit: np.ndarray) -> np.ndarray:
        """Every symmetry-equivalent copy of ``unit``, shape ``(m, d)`` (the identity first)."""
        copies = [np.asarray(unit, dtype=np.float64)]
        for g in self.symmetries:
            copies = [
                self.permute(c, g, perm) for c in copies for perm in itertools.permutations(range(len(g.slots)))
            ]
        return np.stack(copies)

    def recipe_distance(self, a: np.ndarray, b: np.ndarray) -> float:
        """How differently two patches make a sound: :meth:`recipe_gaps` minimized over the declared symmetries."""
        return float(self.recipe_gaps(self.orbit(a), np.asarray(b, dtype=np.float64)).min())

    def recipe_gaps(self, rows: np.ndarray, point: np.ndarray) -> np.ndarray:
        """RMS unit-space distance of each of ``rows`` ``(n, d)`` to ``point``, slots as they are, where
        a discrete choice that differs counts as 1 (a different filter model or algorithm is a
        different way of building the sound, whichever bins it sits between) and one that agrees as 0."""
        diffs = np.abs(np.asarray(rows, dtype=np.float64) - np.asarray(point, dtype=np.float64)[None, :])
        choice = np.array([p.kind == "choice" for p in self.params])
        diffs[:, choice] = diffs[:, choice] > 1e-9
        return np.asarray(np.sqrt(np.mean(diffs**2, axis=-1)))

    # ------------------------------------------------------------------ model face (one-hot)
    def model_dim(self) -> int:
        """Width of the model representation: one column per continuous param, k per choice."""
        return sum(p.n_bins if p.kind == "choice" else 1 for p in self.params)

    def to_model(self, unit: np.ndarray) -> np.ndarray:
        """Unit vectors ``(..., d)`` → model vectors ``(..., model_dim)`` with choices one-hot."""
        unit = self._check(unit)
        cols = []
        for i, p in enumerate(self.params):
            if p.kind == "choice":
                idx = np.minimum((unit[..., i] * p.n_bins).astype(int), p.n_bins - 1)
                cols.append(np.eye(p.n_bins)[idx])
            else:
                cols.append(unit[..., i : i + 1])
        return np.concatenate(cols, axis=-1)

    def from_model(self, x: np.ndarray) -> np.ndarray:
        """Model vectors → unit vectors; one-hot blocks decode by argmax."""
        x = np.asarray(x, dtype=np.float64)
        out, col = [], 0
        for p in self.params:
            if p.kind == "choice":
                idx = np.argmax(x[..., col : col + p.n_bins], axis=-1)
                out.append((idx + 0.5) / p.n_bins)
                col += p.n_bins
            else:
                out.append(np.clip(x[..., col], 0.0, 1.0))
                col += 1
        return self.snap(np.stack(out, axis=-1))

    # ------------------------------------------------------------------ optimizer face
    def _ng_groups(self) -> dict[str, list[int]]:
        """Coordinates grouped into nevergrad children: one bounded array ``num`` for the continuous and
        integer ones, one repeated choice (:func:`bin_choice`) per choice size. Few children keep nevergrad's
        per-candidate bookkeeping cheap: it walks the parametrization tree several times per ask and
        tell, and on DX7's 145 fields one array per integer range cost 12 ms a candidate in the parent.

        ``num`` holds the continuous coordinates, then the integers by range (ranges ordered by the
        text ``int<bins>``), and the children come in the order each first appears. That lays out the
        standardized vector as it was when each range was its own child, so a seed draws the same
        CMA-ES and hill-climbing searches and the measured protocol results still describe them."""
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(self.params):
            key = "cont" if p.kind == "continuous" else f"int{p.n_bins}" if p.kind == "integer" else f"choice{p.n_bins}"
            groups.setdefault(key, []).append(i)
        numeric = [i for key in sorted(groups) if not key.startswith("choice") for i in groups[key]]
        order = dict.fromkeys("num" if not key.startswith("choice") else key for key in groups)  # as each first appears
        return {key: numeric if key == "num" else groups[key] for key in order}

    def _ng_layout(self) -> dict[str, _NgGroup]:
        """:meth:`_ng_groups` with what converting each child's values needs."""
        layout = {}
        for key, idx in self._ng_groups().items():
            ints = np.array([self.params[i].kind == "integer" for i in idx])
            bins = np.array([max(self.params[i].n_bins, 1) for i in idx])
            layout[key] = _NgGroup(np.array(idx), bins, ints, np.where(ints, np.maximum(bins - 1, 1), 1).astype(np.float64))
        return layout

    def to_nevergrad(self, *, seed: int, init: np.ndarray | None = None, sigma: float | np.ndarray = 0.25, hold: float | None = None) -> Any:
        """A nevergrad ``ng.p.Dict`` over this space. Continuous and integer coordinates → one bounded
        ``Array`` in [0, 1], an integer's bins evenly spaced over it (rounded to the nearest);
        choices → a ``ng.p.Choice`` over bin indices per choice size (with repetitions).
        ``init`` (a unit vector) sets the start (CMA-ES mean, hill-climb start).
        ``sigma`` is the mutation scale in unit space, one for all or one per coordinate (``(dim,)``;
        the choices' entries are unused). ``hold`` is the probability that the choices of ``init``
        are drawn again (:meth:`hold_choices`)."""
        ng = nevergrad()

        init_value = self.nevergrad_value(self.default_unit() if init is None else init)
        sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (self.dim,))
        content: dict[str, Any] = {}
        for key, g in self._ng.items():
            if key == "num":  # an integer's step is sigma x its bin count, at least half a bin
                steps = np.where(g.ints, np.maximum(sigmas[g.idx] * g.bins, 0.5) / g.spans, sigmas[g.idx])
                content[key] = ng.p.Array(init=init_value[key], lower=0.0, upper=1.0).set_mutation(sigma=steps)
            else:
                choice = bin_choice(int(g.bins[0]), g.idx.size)
                choice.value = init_value[key]
                content[key] = choice
        param = ng.p.Dict(**content)
        param.random_state = np.random.RandomState(seed)
        if hold is not None:
            self.hold_choices(param, hold)
        return param

    def hold_choices(self, param: Any, hold: float) -> None:
        """Makes the current choices of ``param`` (a :meth:`to_nevergrad` parametrization or a child of
        one, its value just set) the ones an optimizer draws again: all of them at once with probability
        ``hold``, each with ``hold ** (1 / number of choices)``; the other options share the rest.

        ``ng.p.Choice`` draws from a softmax of weights, and setting its value gives the set option only
        1.5x the uniform probability (37.5% of a 4-way waveform, 4.7% of a 32-way DX7 algorithm). So a
        CMA-ES seeded at a flow sample redrew the seed's choices at random on almost every ask (all 22
        of a DX7 patch's together: never). Here the set option's weight is raised to
        ``log(p (n - 1) / (1 - p))`` above the others' in nevergrad's standardized space, where the
        optimizer can still learn the weights away from it. A told child's drawn value may then differ
        from the seed; nevergrad learns from the weights, not from that draw."""
        from nevergrad.parametrization.discretization import weight_for_reset

        if not 0.0 < hold < 1.0:
            raise ConfigError(f"hold must be in (0, 1), got {hold}")
        groups = {k: g for k, g in self._ng.items() if k.startswith("choice") and g.bins[0] > 1}
        p = hold ** (1.0 / max(sum(g.idx.size for g in groups.values()), 1))
        for key, g in groups.items():
            n = int(g.bins[0])
            weights = param[key].indices
            bins = np.asarray(weights.value, dtype=int).reshape(-1)
            delta = np.zeros((g.idx.size, n))
            delta[np.arange(g.idx.size), bins] = math.log(p * (n - 1) / (1.0 - p)) - weight_for_reset(n)
            weights.set_standardized_data(delta.ravel())

    def nevergrad_value(self, unit: np.ndarray) -> dict[str, Any]:
        """A unit vector as the value of a :meth:`to_nevergrad` parametrization (inverse of
        :meth:`from_nevergrad` on discrete bins)."""
        unit = self._check(unit)
        value: dict[str, Any] = {}
        for key, g in self._ng.items():
            bins = np.minimum((unit[g.idx] * g.bins).astype(int), g.bins - 1)
            value[key] = np.where(g.ints, bins / g.spans, unit[g.idx]) if key == "num" else tuple(int(b) for b in bins)
        return value

    def from_nevergrad(self, value: Mapping[str, Any]) -> np.ndarray:
        """The value of a :meth:`to_nevergrad` candidate → canonical unit vector."""
        out = np.empty(self.dim)
        for key, g in self._ng.items():
            v = np.atleast_1d(np.asarray(value[key], dtype=np.float64))
            if key == "num":
                u = np.clip(v, 0.0, 1.0)
                out[g.idx] = np.where(g.ints, (np.clip(np.round(u * g.spans), 0, g.bins - 1) + 0.5) / g.bins, u)
            else:
                out[g.idx] = (np.clip(np.round(v), 0, g.bins - 1) + 0.5) / g.bins
        return out


def read_config(path: Path, text: str | None = None, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A synth config's table. ``extends = "other"`` (a config name next to it, or a .toml path
    relative to it) starts from that config: tables merge key by key, anything else (arrays such as
    ``[[param]]`` included) is replaced. So a variant names only what it changes."""
    try:
        raw = tomllib.loads(text if text is not None else path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"synth config not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}") from None
    base = raw.pop("extends", None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: 'extends' must name another synth config")
    base_path = (path.parent / (base if base.endswith(".toml") else f"{base}.toml")).resolve()
    if base_path in (*seen, path.resolve()):
        raise ConfigError(f"{path}: 'extends' loops back to {base_path.name}")
    return _merge(read_config(base_path, seen=(*seen, path.resolve())), raw)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_space(path: str | Path) -> ParamSpace:
    """Reads a ParamSpace TOML file (``extends`` included); any problem is a one-line :class:`ConfigError`."""
    path = Path(path)
    raw = read_config(path)
    return ParamSpace.from_dict(raw, name=raw.get("name", path.stem))
