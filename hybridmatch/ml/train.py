"""Training a flow, a regression head or a surrogate, with periodic checkpoints and resume.

``train`` writes ``out`` (a checkpoint, :mod:`hybridmatch.ml.checkpoint`) every ``checkpoint_every``
steps and ``<out>.state`` beside it (weights, optimizer, step, RNG), so a killed run resumes where it
stopped. Both are read with ``weights_only=True``. At the end the model is scored on held-out items
by re-rendering what it samples (:mod:`hybridmatch.ml.evaluate`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import write_json
from ..errors import ConfigError
from ..progress import Progress
from ..synths import SynthSpec
from .checkpoint import FORMAT, load_checkpoint, read_torch, save_torch
from .dataset import FlowData
from .evaluate import HOLDOUT, evaluate, evaluate_surrogate
from .features import scalars
from .model import ModelConfig, build_model

__all__ = ["train"]


def _lr(step: int, steps: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))


def _hardware(device: str) -> str:
    cores = f"{os.cpu_count()} cores"
    return f"{torch.cuda.get_device_name()}, {cores}" if device == "cuda" else f"CPU, {cores}"


@dataclass
class _Run:
    """One training run's state: what ``<out>.state`` holds, and what the checkpoint records."""

    cfg: ModelConfig
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    rng: np.random.Generator
    data_dir: Path
    step: int = 0
    wall: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return {"config": self.cfg.to_dict(), "data": str(self.data_dir.resolve()), "model": self.model.state_dict(),
                "opt": self.opt.state_dict(), "step": self.step, "wall": self.wall, "history": self.history,
                "rng": json.dumps(self.rng.bit_generator.state), "torch_rng": torch.get_rng_state()}

    def restore(self, path: Path, device: str) -> None:
        st = read_torch(path, map_location=device)
        if not isinstance(st, dict) or st.get("config") != self.cfg.to_dict() or st.get("data") != str(self.data_dir.resolve()):
            raise ConfigError(f"{path} belongs to another run (model or data differ); remove it or use a new --out")
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.step, self.wall, self.history = int(st["step"]), float(st["wall"]), list(st["history"])
        self.rng.bit_generator.state = json.loads(st["rng"]) if isinstance(st["rng"], str) else st["rng"]
        torch.set_rng_state(st["torch_rng"])


def _model_config(data: FlowData, data_dir: Path, spec: SynthSpec, kind: str, options: dict[str, Any]) -> ModelConfig:
    """The model to train, checked against what the dataset holds."""
    if data.meta["space"] != spec.space.to_dict():
        raise ConfigError(f"{data_dir} was rendered from another parameter space than {spec.space.name!r}")
    options = dict(options)
    if kind == "surrogate":  # it predicts the level, so it needs it in the data; and clean renders to learn from
        options["scalars"] = 3
        if data.meta.get("augment"):
            raise ConfigError(f"{data_dir} was rendered with --augment; a surrogate learns what the synth renders, so train it on a dataset made without")
    cfg = ModelConfig(kind=kind, dim=spec.space.model_dim(), **options)
    if cfg.scalars == 3 and not data.has_level:
        raise ConfigError(f"{data_dir} does not record the clip level; render it again to train with --level")
    return cfg


def _step(run: _Run, data: FlowData, spec: SynthSpec, train_idx: np.ndarray, *, batch: int, steps: int, lr: float, device: str) -> dict[str, float]:
    """One optimizer step on a random batch; returns the loss terms."""
    units, mel, cond = data.batch(run.rng.choice(train_idx, size=min(batch, len(train_idx)), replace=False))
    x1 = torch.from_numpy(2.0 * spec.space.to_model(units.astype(np.float64)) - 1.0).float().to(device)
    sc = torch.from_numpy(np.stack([scalars(n_, d_, lv if run.cfg.scalars == 3 else None) for n_, d_, lv in cond])).to(device)
    for group in run.opt.param_groups:
        group["lr"] = _lr(run.step, steps, lr)
    loss, parts = run.model.loss(x1, torch.from_numpy(mel).to(device), sc)  # type: ignore[operator]
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.opt.step()
    return dict(parts)


def train(
    data_dir: str | Path,
    out: str | Path,
    spec: SynthSpec,
    *,
    kind: str = "dit",
    steps: int = 2000,
    batch: int = 128,
    lr: float = 3e-4,
    device: str = "cpu",
    holdout: float = HOLDOUT,
    eval_items: int = 16,
    eval_n: int = 8,
    checkpoint_every: int = 250,
    workers: int = 1,
    seed: int = 0,
    quiet: bool = False,
    model_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Trains (or resumes) a model on ``data_dir`` and writes ``out`` (+ ``out.state`` for resuming).

    Evaluation at the end re-renders samples for ``eval_items`` held-out items (audio metrics)."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible to torch")
    data_dir, out = Path(data_dir), Path(out)
    data = FlowData(data_dir)
    cfg = _model_config(data, data_dir, spec, kind, model_options or {})
    torch.manual_seed(seed)
    model = build_model(cfg).to(device)
    run = _Run(cfg, model, torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4), np.random.default_rng(seed), data_dir)
    state_path = out.with_name(out.name + ".state")
    if state_path.exists():
        run.restore(state_path, device)
    train_idx, held_idx = data.split(holdout, seed=seed)
    command = " ".join(["hybridmatch", *sys.argv[1:]]) if Path(sys.argv[0]).name == "hybridmatch" else ""

    def info(extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "data": {"dir": str(data_dir), "n": len(data), "train": len(train_idx), "held_out": len(held_idx), "augment": data.meta.get("augment")},
            "steps": run.step, "batch": batch, "lr": lr, "device": device, "wall_s": round(run.wall, 3),
            "threads": torch.get_num_threads(), "hardware": _hardware(device), "command": command, "history": run.history[-20:], **(extra or {}),
        }

    def checkpoint(extra: dict[str, Any] | None = None) -> None:
        model.eval()
        save_torch(out, {"format": FORMAT, "config": cfg.to_dict(), "backend": spec.backend, "space": spec.space.to_dict(),
                         "sample_rate": spec.sample_rate, "state": model.state_dict(), "info": info(extra)})
        save_torch(state_path, run.state())
        model.train()

    _fit(run, data, spec, train_idx, batch=batch, steps=steps, lr=lr, device=device, every=checkpoint_every, checkpoint=checkpoint, quiet=quiet)
    result = _held_out(out, spec, data, held_idx[: min(eval_items, len(held_idx))], kind=kind, n=eval_n, workers=workers, seed=seed)
    checkpoint({"held_out_eval": result})
    summary = {"checkpoint": str(out), "bytes": out.stat().st_size, **info({"held_out_eval": result})}
    write_json(out.with_suffix(".json"), summary)
    return summary


def _fit(run: _Run, data: FlowData, spec: SynthSpec, train_idx: np.ndarray, *, batch: int, steps: int, lr: float, device: str, every: int,
         checkpoint: Any, quiet: bool) -> None:
    """Steps until ``steps``, checkpointing every ``every`` steps and on Ctrl-C."""
    progress = Progress(steps, quiet=quiet, label=f"train {run.cfg.kind}")
    progress.update(run.step, "")
    run.model.train()
    running: dict[str, float] = {}
    try:
        while run.step < steps:
            t0 = time.perf_counter()
            parts = _step(run, data, spec, train_idx, batch=batch, steps=steps, lr=lr, device=device)
            run.step += 1
            run.wall += time.perf_counter() - t0
            running = {k: 0.98 * running.get(k, v) + 0.02 * v for k, v in parts.items()}
            progress.update(run.step, "  ".join(f"{k} {v:.4f}" for k, v in running.items()) + f"  {run.step / max(run.wall, 1e-9):.1f} steps/s")
            if run.step % 100 == 0:
                run.history.append({"step": run.step, **{k: round(v, 5) for k, v in running.items()}})
            if run.step % every == 0:
                checkpoint()
    finally:
        checkpoint()
        progress.close()


def _held_out(out: Path, spec: SynthSpec, data: FlowData, held: np.ndarray, *, kind: str, n: int, workers: int, seed: int) -> dict[str, Any]:
    """The saved checkpoint, loaded as a user would, scored on held-out items."""
    ckpt = load_checkpoint(out)
    if kind == "surrogate":
        return evaluate_surrogate(ckpt, spec, data, held, n=n, workers=workers, seed=seed)
    return evaluate(ckpt, spec, data, held, n=1 if kind == "regress" else n, workers=workers, seed=seed)
