"""Checkpoints: saving, loading (``weights_only=True``, so a file can never run code) and sampling.

A checkpoint is one ``torch.save`` dict: the model config, the parameter space it was trained on,
the weights, and how it was trained and how it scored. The optimizer state for resuming lives next
to it in ``<out>.state`` (see :mod:`hybridmatch.ml.train`), so shipped checkpoints stay small.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write
from ..errors import ConfigError
from ..space import ParamSpace
from .features import level_db, logmel, scalars
from .model import Flow, ModelConfig, Regressor, Surrogate, build_model

__all__ = ["FORMAT", "Checkpoint", "Latent", "checkpoint_report", "load_checkpoint", "read_checkpoint", "save_torch"]

FORMAT = 1


@dataclass
class Checkpoint:
    """A loaded model ready to sample, with what it was trained on."""

    model: Flow | Regressor | Surrogate
    config: ModelConfig
    space: ParamSpace
    backend: str
    info: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.config.kind

    def _conditioning(self, audio: np.ndarray, sample_rate: int, note: float, duration: float) -> tuple[torch.Tensor, torch.Tensor]:
        mel = torch.from_numpy(logmel(audio, sample_rate))[None]
        level = level_db(audio, sample_rate) if self.config.scalars == 3 else None
        return mel, torch.from_numpy(scalars(note, duration, level))[None]

    def propose(self, audio: np.ndarray, sample_rate: int, note: float, duration: float, n: int, *, seed: int, steps: int = 16, guidance: float = 2.0) -> np.ndarray:
        """``n`` unit vectors for a target (a regressor returns its single estimate)."""
        if isinstance(self.model, Surrogate):
            raise ConfigError("a surrogate checkpoint predicts sounds, it does not propose patches; name it as [proposer.options] surrogate")
        mel, sc = self._conditioning(audio, sample_rate, note, duration)
        gen = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            x = self.model.sample(mel, sc, n, steps=steps, guidance=guidance, generator=gen).double().numpy()
        return self.space.from_model((x + 1.0) / 2.0)

    def score(self, audio: np.ndarray, sample_rate: int, note: float, duration: float, units: np.ndarray) -> np.ndarray:
        """A surrogate's predicted distance of each patch (unit vectors (n, d)) from the target; lower is nearer."""
        return self.scorer(audio, sample_rate, note, duration)(units)

    def scorer(self, audio: np.ndarray, sample_rate: int, note: float, duration: float) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`score` for one target, its log-mel computed once: for a search that scores a few
        candidates at a time."""
        if not isinstance(self.model, Surrogate):
            raise ConfigError(f"a {self.kind} checkpoint cannot score patches; a surrogate checkpoint (train --model surrogate) can")
        model = self.model
        mel, sc = self._conditioning(audio, sample_rate, note, duration)

        def score(units: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(2.0 * self.space.to_model(np.atleast_2d(units).astype(np.float64)) - 1.0).float()
            with torch.inference_mode():  # in chunks: a 500-render cnf-only run scores 4000 draws
                return torch.cat([model.score(chunk, mel, sc) for chunk in x.split(1024)]).double().numpy()

        return score

    def latent(self, audio: np.ndarray, sample_rate: int, note: float, duration: float, *, steps: int = 16, guidance: float = 2.0) -> Latent:
        """The flow's noise space for one target (``Latent``); a regression head has none."""
        if not isinstance(self.model, Flow):
            raise ConfigError(f"a {self.kind} checkpoint has no noise space to search; latent search needs a flow (proposer cnf)")
        mel, sc = self._conditioning(audio, sample_rate, note, duration)
        with torch.inference_mode():
            c = self.model.encoder(mel, sc)
        return Latent(self, c, steps, guidance)


@dataclass
class Latent:
    """A flow's starting-noise space, conditioned on one target: ``decode(noise(n, seed))`` are
    exactly ``Checkpoint.propose``'s samples for that seed, and ``decode`` maps any point of the
    noise space (float64 array (n, dim)) to unit vectors, discrete choices decoded by argmax."""

    checkpoint: Checkpoint
    conditioning: torch.Tensor
    steps: int
    guidance: float

    @property
    def dim(self) -> int:
        return self.checkpoint.config.dim

    def noise(self, n: int, seed: int) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.dim, generator=gen).double().numpy()

    def decode(self, x0: np.ndarray) -> np.ndarray:
        model = self.checkpoint.model
        assert isinstance(model, Flow)
        with torch.inference_mode():
            x = model.decode(self.conditioning, torch.as_tensor(np.atleast_2d(x0), dtype=torch.float32), steps=self.steps, guidance=self.guidance)
        return self.checkpoint.space.from_model((x.double().numpy() + 1.0) / 2.0)


def save_torch(path: Path, obj: Any) -> None:
    """``torch.save`` written atomically: a killed save never leaves a torn checkpoint."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def read_torch(path: Path, *, map_location: str = "cpu") -> Any:
    """A ``torch.load`` of plain tensors and containers only: a pickled object is refused with one line."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"checkpoint not found: {path}") from None
    except Exception as exc:
        raise ConfigError(f"{path} is not a hybridmatch checkpoint or training state ({type(exc).__name__}); "
                          "only plain tensors and containers are loaded") from None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The raw checkpoint dict, or a one-line ConfigError."""
    raw = read_torch(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError(f"{path}: unsupported checkpoint format (expected format {FORMAT}); retrain with `hybridmatch train`")
    return raw


def _model_view(space: ParamSpace, searched_only: bool) -> dict[str, Any]:
    """What must agree between a checkpoint's space and the space it proposes for: everything, or
    only the searched parameters where the space plays the checkpoint's voice on another engine
    (``[meta] voice_of``): the same voice fields with the same meaning, other plugin controls."""
    view = space.to_dict()
    return {k: v for k, v in view.items() if k in ("param", "symmetry")} if searched_only else view


def load_checkpoint(path: str | Path, space: ParamSpace | None = None) -> Checkpoint:
    """Loads a checkpoint; with ``space``, checks it was trained on that exact parameter space."""
    raw = read_checkpoint(Path(path))
    trained = ParamSpace.from_dict(raw["space"], name=raw["space"].get("name", ""))
    shared = space is not None and bool(space.meta.get("voice_of"))
    if space is not None and _model_view(trained, shared) != _model_view(space, shared):
        raise ConfigError(f"{path} was trained on another parameter space than {space.name!r}; retrain it for this config")
    cfg = ModelConfig(**raw["config"])
    model = build_model(cfg)
    model.load_state_dict(raw["state"])
    model.eval()
    return Checkpoint(model, cfg, trained, raw["backend"], raw.get("info", {}))


def _describe(cfg: dict[str, Any]) -> str:
    level = " +level" if cfg.get("scalars", 2) == 3 else ""
    if cfg["kind"] == "dit":
        return f"dit d{cfg['d_model']} L{cfg['layers']} K{cfg['tokens']}{level}"
    if cfg["kind"] == "mlp":
        return f"mlp w{cfg['hidden']} L{cfg['layers']}{level}"
    if cfg["kind"] == "surrogate":
        return f"surrogate w{cfg['hidden']} L{cfg['layers']}"
    return f"regress w{cfg['hidden']}{level}"


def checkpoint_report(paths: list[Path]) -> str:
    """A markdown table of how each checkpoint was trained and how it scored on held-out items."""
    lines = [
        "# Shipped checkpoints",
        "",
        "Written by `hybridmatch checkpoints [EXTRA.pt ...] --out results/training.md` from the records inside each checkpoint",
        "(rows with a path are not shipped; they are kept for comparison). `lr` and the model's own size flags are in the commands.",
        "Held-out evaluation: for each held-out dataset item, the true patch is rendered at its note and length; the",
        "model's samples (8 for a flow, its single estimate for `regress`) and 8 prior samples are rendered and scored",
        "against it. Medians over items; `best` is the best-of-n by search loss, `mean` the mean over the n.",
        "A surrogate (patch → log-mel, which ranks a flow's samples) is scored on what it picks: `model` is the 8 patches",
        "it ranks first among 64 prior samples, `prior` 8 of the same 64 taken at random; its rank correlation is in its .json.",
        "Checkpoints that were replaced are described in `results/journal.md`.",
        "Hardware comes from the record (or the .json beside the checkpoint); `?` means it was not recorded, and every such",
        "checkpoint was trained on the 2-core development VM. The dataset commands are in `scripts/train-checkpoints.sh`.",
        "",
        "| checkpoint | model | MB | data n (augment) | steps | batch | wall s | device / threads | hardware | model best MSS | prior best MSS | model best wMFCC | prior best wMFCC | model mean MSS | prior mean MSS |",
        "|---|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    commands = []
    for path in paths:
        raw = read_checkpoint(path)
        info, cfg = raw.get("info", {}), raw["config"]
        ev = info.get("held_out_eval", {})

        def get(k: str, m: str, ev: dict[str, Any] = ev) -> float:
            return float(ev.get(k, {}).get(m, float("nan")))

        aug = "yes" if info.get("data", {}).get("augment") else "no"
        sidecar = path.with_suffix(".json")
        hardware = info.get("hardware") or (json.loads(sidecar.read_text()).get("hardware") if sidecar.exists() else None) or "?"
        lines.append(
            f"| `{path.name if path.parent.name == 'checkpoints' else path}` | {_describe(cfg)} | {path.stat().st_size / 1e6:.1f} | "
            f"{info.get('data', {}).get('n', '?')} ({aug}) | {info.get('steps', '?')} | {info.get('batch', '?')} | {float(info.get('wall_s', 'nan')):.0f} | "
            f"{info.get('device', '?')} / {info.get('threads', '?')} | {hardware} | {get('model_best', 'mss'):.2f} | {get('prior_best', 'mss'):.2f} | "
            f"{get('model_best', 'wmfcc'):.2f} | {get('prior_best', 'wmfcc'):.2f} | {get('model', 'mss'):.2f} | {get('prior', 'mss'):.2f} |"
        )
        if info.get("command"):
            commands.append(f"- `{path.name}`: `{info['command']}`")
    return "\n".join(lines + ["", "## Commands", "", *commands, ""])
