"""Strategies: a proposer plus an optimizer, declared as data in ``strategies/*.toml``."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..objectives import DEFAULT_WEIGHTS, PARETO_KEYS
from ..space import ParamSpace
from ._optimizers import OPTIMIZERS

__all__ = ["Strategy", "load_strategy", "PROPOSERS", "propose"]


@dataclass(frozen=True)
class Strategy:
    """``proposer`` makes ``n_proposals`` initial candidates (rendered first, counted in the budget);
    their best ``modes`` clusters each seed one ``optimizer`` run, sharing the rest of the budget.
    Each optimizer is also told the proposals of its cluster where nevergrad allows it (the GA's
    initial population, the hill climber's best so far). Optimizer ``"none"`` spends the whole
    budget on proposals (``cnf-only``). ``hold`` (``[optimizer] hold``) is the probability that an
    optimizer's candidate keeps all of its seed's discrete choices (``ParamSpace.hold_choices``);
    unset, nevergrad's own reset applies (1.5x uniform per choice). ``race`` (``[optimizer] race``)
    > 0 races the modes: after ``race`` renders each, only the best mode so far goes on. ``spread``
    (``[optimizer] spread = true``) shapes each mode's step sizes by its proposals: a coordinate on
    which they disagree is searched wider, one they agree on narrower (``_match.spread_sigma``).
    ``prior_share`` (``[proposer] prior``) is the fraction of the proposals drawn from the config's
    prior instead of the proposer: a defensive mixture for targets the model reads badly.
    ``latent`` (``[optimizer] latent = 0.2``) > 0 makes the optimizers search the flow's starting
    noise instead of the patch space, with that step size: each candidate is a point of the noise
    that the flow (conditioned on the target) decodes into a patch, so the search moves over the
    patches the flow proposes for this target, discrete choices included. It needs proposer
    ``cnf``. ``handoff`` (``[optimizer] handoff = 200``) ends that noise-space search once the
    archive holds that many renders: from there the optimizers search the patch space from the best
    renders so far, as without ``latent`` (the flow finds the region, patch-space steps refine past
    what it proposes). ``hold`` and ``spread`` shape patch-space steps, so with ``latent`` they need
    a ``handoff``, and apply after it."""

    name: str
    optimizer: str
    optimizer_options: Mapping[str, Any] = field(default_factory=dict)
    proposer: str = "none"
    n_proposals: int = 0
    proposer_options: Mapping[str, Any] = field(default_factory=dict)
    prior_share: float = 0.0
    modes: int = 1
    hold: float | None = None
    race: int = 0
    spread: bool = False
    latent: float = 0.0
    handoff: int = 0
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    description: str = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, name: str = "") -> Strategy:
        name = str(raw.get("name", name))
        opt = raw.get("optimizer")
        if not isinstance(opt, Mapping) or "name" not in opt:
            raise ConfigError(f"strategy {name}: needs an [optimizer] table with a name")
        if opt["name"] not in OPTIMIZERS and opt["name"] != "none":
            raise ConfigError(f"strategy {name}: unknown optimizer {opt['name']!r}; known: {', '.join(sorted(OPTIMIZERS))}")
        prop = raw.get("proposer", {})
        if prop.get("name", "none") not in PROPOSERS:
            raise ConfigError(f"strategy {name}: unknown proposer {prop.get('name')!r}; known: {', '.join(sorted(PROPOSERS))}")
        weights = dict(raw.get("loss", DEFAULT_WEIGHTS))
        bad = set(weights) - set(PARETO_KEYS)
        if bad:
            raise ConfigError(f"strategy {name}: unknown loss terms {sorted(bad)}")
        modes = int(opt.get("modes", 1))
        n = int(prop.get("n", 0))
        if modes < 1 or n < 0:
            raise ConfigError(f"strategy {name}: modes must be >= 1 and proposer n >= 0")
        hold = opt.get("hold")
        if hold is not None and not (isinstance(hold, (int, float)) and 0.0 < hold < 1.0):
            raise ConfigError(f"strategy {name}: [optimizer] hold must be a probability in (0, 1), got {hold!r}")
        race = opt.get("race", 0)
        if isinstance(race, bool) or not isinstance(race, int) or race < 0:
            raise ConfigError(f"strategy {name}: [optimizer] race must be a whole number of renders >= 0, got {race!r}")
        prior_share = prop.get("prior", 0.0)
        if isinstance(prior_share, bool) or not isinstance(prior_share, (int, float)) or not 0.0 <= prior_share < 1.0:
            raise ConfigError(f"strategy {name}: [proposer] prior must be a fraction in [0, 1), got {prior_share!r}")
        spread = opt.get("spread", False)
        if not isinstance(spread, bool):
            raise ConfigError(f"strategy {name}: [optimizer] spread must be true or false, got {spread!r}")
        latent = opt.get("latent", 0.0)
        if isinstance(latent, bool) or not isinstance(latent, (int, float)) or not latent >= 0.0:
            raise ConfigError(f"strategy {name}: [optimizer] latent must be a step size >= 0 in the flow's noise space, got {latent!r}")
        if latent and (prop.get("name") != "cnf" or opt["name"] == "none"):
            raise ConfigError(f"strategy {name}: [optimizer] latent searches a flow's noise space; it needs proposer 'cnf' and an optimizer")
        handoff = opt.get("handoff", 0)
        if isinstance(handoff, bool) or not isinstance(handoff, int) or handoff < 0:
            raise ConfigError(f"strategy {name}: [optimizer] handoff must be a whole number of renders >= 0, got {handoff!r}")
        if handoff and not latent:
            raise ConfigError(f"strategy {name}: [optimizer] handoff ends a noise-space search; it needs latent > 0")
        if latent and not handoff and (hold is not None or spread):
            raise ConfigError(f"strategy {name}: [optimizer] hold and spread shape patch-space steps; with latent they need a handoff to the patch space")
        if opt["name"] == "none" and prop.get("name", "none") == "none":
            raise ConfigError(f"strategy {name}: optimizer 'none' needs a proposer")
        return cls(
            name=name,
            optimizer=str(opt["name"]),
            optimizer_options=dict(opt.get("options", {})),
            proposer=str(prop.get("name", "none")),
            n_proposals=n,
            proposer_options=dict(prop.get("options", {})),
            prior_share=float(prior_share),
            modes=modes,
            hold=None if hold is None else float(hold),
            race=race,
            spread=spread,
            latent=float(latent),
            handoff=handoff,
            weights=weights,
            description=str(raw.get("description", "")),
        )

    def check(self, space: ParamSpace) -> None:
        """Fails fast (ConfigError) if the proposer cannot serve ``space``, e.g. no checkpoint."""
        check = getattr(PROPOSERS[self.proposer], "check", None)
        if check is not None:
            check(space, self.proposer_options)


def load_strategy(path: str | Path) -> Strategy:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"strategy file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
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
