"""Proposers backed by trained checkpoints: ``cnf`` (samples of the flow) and ``regress`` (the
regression baseline's single estimate). Shipped checkpoints live in ``hybridmatch/ml/checkpoints``
as ``<config>.pt`` (flow) and ``<config>-regress.pt``; a strategy may name another file with
``[proposer.options] checkpoint = "path.pt"``.

``[proposer.options] surrogate = true`` (the shipped ``<config>-surrogate.pt``, or a path) makes
``cnf`` draw ``oversample`` (default 8) times as many samples and keep those whose sound a surrogate
of the synth (``model.Surrogate``) predicts nearest the target: many draws are cheap, renders are not."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..space import ParamSpace

__all__ = ["CHECKPOINT_DIR", "shipped_checkpoint", "checkpoint_path", "propose_from_checkpoint", "load_for", "check_options", "latent_proposals",
           "surrogate_path", "load_surrogate", "surrogate_pick"]

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"


def shipped_checkpoint(config: str, kind: str = "cnf") -> Path:
    return CHECKPOINT_DIR / (f"{config}.pt" if kind == "cnf" else f"{config}-{kind}.pt")


@functools.lru_cache(maxsize=4)
def _cached(path: str, space_json: str) -> Any:
    import json

    from .checkpoint import load_checkpoint

    raw = json.loads(space_json)
    return load_checkpoint(path, ParamSpace.from_dict(raw, name=raw.get("name", "")))


def checkpoint_path(space: ParamSpace, kind: str, checkpoint: str | None = None) -> Path:
    """The file a ``kind`` proposer samples from for ``space``: the named one, else the shipped one
    (for a config that plays another config's voice, ``[meta] voice_of``, that config's)."""
    return Path(checkpoint) if checkpoint else shipped_checkpoint(space.meta.get("voice_of") or space.name, kind)


# [proposer.options] a checkpoint proposer takes, with the test each value must pass
_OPTIONS: dict[str, tuple[str, Any]] = {
    "checkpoint": ("a path", lambda v: isinstance(v, str) and v != ""),
    "steps": ("a whole number of Euler steps >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "guidance": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "surrogate": ("true (the shipped surrogate) or a path", lambda v: v is True or (isinstance(v, str) and v != "")),
    "oversample": ("a whole number >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
}
OVERSAMPLE = 8  # flow samples drawn per kept one when a surrogate ranks them


def check_options(kind: str, options: dict[str, Any]) -> None:
    """One-line ConfigError for an unknown or ill-typed ``[proposer.options]`` entry (a misspelt
    option would otherwise be ignored, and a string guidance fail deep inside torch)."""
    for key, value in options.items():
        if key not in _OPTIONS:
            raise ConfigError(f"proposer {kind!r}: unknown option {key!r}; known: {', '.join(sorted(_OPTIONS))}")
        what, ok = _OPTIONS[key]
        if not ok(value):
            raise ConfigError(f"proposer {kind!r}: option {key} must be {what}, got {value!r}")
    if "oversample" in options and not options.get("surrogate"):
        raise ConfigError(f"proposer {kind!r}: oversample needs a surrogate to rank the samples (surrogate = true)")
    if options.get("surrogate") and kind != "cnf":
        raise ConfigError(f"proposer {kind!r}: a surrogate ranks a flow's samples; {kind} has nothing to rank")


def surrogate_path(space: ParamSpace, options: dict[str, Any]) -> Path | None:
    """The surrogate checkpoint a proposer's options name (``True``: the shipped one), or None."""
    value = options.get("surrogate")
    if not value:
        return None
    return checkpoint_path(space, "surrogate", value if isinstance(value, str) else None)


def load_surrogate(space: ParamSpace, surrogate: bool | str) -> Any:
    """The (cached) surrogate a ``surrogate`` option names: True for the shipped one, or a path."""
    return load_for(space, "surrogate", surrogate if isinstance(surrogate, str) else None)


def surrogate_pick(space: ParamSpace, job: Any, units: np.ndarray, n: int, surrogate: bool | str) -> np.ndarray:
    """Indices of the ``n`` patches among ``units`` whose predicted sound is nearest ``job``'s
    target, nearest first (``surrogate``: True for the shipped checkpoint, or a path)."""
    critic = load_surrogate(space, surrogate)
    scores = critic.score(job.target, job.spec.sample_rate, job.note, job.duration, units)
    return np.argsort(scores, kind="stable")[:n]


def load_for(space: ParamSpace, kind: str, checkpoint: str | None = None) -> Any:
    """The (cached) checkpoint serving ``space``: the named file, else the shipped one."""
    import json

    path = checkpoint_path(space, kind, checkpoint)
    if not path.exists() and kind == "surrogate":
        raise ConfigError(
            f"no surrogate checkpoint for config {space.name!r} ({path}); make a dataset without --augment, train one with "
            "`hybridmatch train --model surrogate` and name it in [proposer.options] surrogate, or leave the surrogate out"
        )
    if not path.exists():
        raise ConfigError(
            f"no {kind} checkpoint for config {space.name!r} ({path}); train one with `hybridmatch dataset` and `hybridmatch train`, "
            "then name it in the strategy's [proposer.options] checkpoint; or search without a proposer (--strategy cma)"
        )
    return _cached(str(path), json.dumps(space.to_dict(), sort_keys=True))


def _draw(n: int, surrogate: bool | str, oversample: int) -> int:
    """How many samples to draw so that a surrogate can keep the ``n`` it predicts nearest."""
    return n * oversample if surrogate else n


def propose_from_checkpoint(kind: str, space: ParamSpace, n: int, rng: np.random.Generator, *, job: Any = None,
                            checkpoint: str | None = None, steps: int = 16, guidance: float = 2.0,
                            surrogate: bool | str = False, oversample: int = OVERSAMPLE, **_: Any) -> np.ndarray:
    """``n`` samples of the flow (``kind="cnf"``), or the regression baseline's single estimate
    (``"regress"``: it has nothing to sample), conditioned on the target's audio, note and length.
    With a ``surrogate``, the ``n`` nearest of ``n * oversample`` samples, nearest first."""
    if job is None:
        raise ConfigError(f"proposer {kind!r} needs a target")
    ckpt = load_for(space, kind, checkpoint)
    units = ckpt.propose(job.target, job.spec.sample_rate, job.note, job.duration, _draw(n, surrogate, oversample), seed=int(rng.integers(2**31)),
                         steps=steps, guidance=guidance)
    return units[surrogate_pick(space, job, units, n, surrogate)] if surrogate else units


def latent_proposals(space: ParamSpace, job: Any, n: int, rng: np.random.Generator, *, checkpoint: str | None = None, steps: int = 16,
                     guidance: float = 2.0, surrogate: bool | str = False, oversample: int = OVERSAMPLE, **_: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """The cnf checkpoint's noise space conditioned on ``job``'s target (``checkpoint.Latent``), and
    ``n`` of its samples with the noise each came from: ``(latent, noise (n, dim), units (n, d))``,
    for a search in the flow's noise space (``[optimizer] latent``). A ``surrogate`` picks them as
    in :func:`propose_from_checkpoint`."""
    latent = load_for(space, "cnf", checkpoint).latent(job.target, job.spec.sample_rate, job.note, job.duration, steps=steps, guidance=guidance)
    noise = latent.noise(_draw(n, surrogate, oversample), int(rng.integers(2**31)))
    units = latent.decode(noise)
    if surrogate:
        keep = surrogate_pick(space, job, units, n, surrogate)
        noise, units = noise[keep], units[keep]
    return latent, noise, units
