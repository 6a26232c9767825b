"""Training, checkpoints and held-out evaluation by audio metrics.

A checkpoint is one ``torch.save`` dict (loadable with ``weights_only=True``): the model config, the
parameter space it was trained on, the weights, and how it was trained and how it scored. The
optimizer state for resuming lives next to it in ``<out>.state``, so shipped checkpoints stay small.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine import Progress
from ..errors import ConfigError
from ..objectives import PARETO_KEYS
from ..render import RenderJob, RenderPool
from ..space import ParamSpace
from ..synths import SynthSpec
from .dataset import FlowData
from .features import level_db, logmel, scalars
from .model import Flow, ModelConfig, Regressor, Surrogate, build_model

__all__ = ["train", "Checkpoint", "Latent", "load_checkpoint", "evaluate", "evaluate_surrogate", "FORMAT"]

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

    def propose(self, audio: np.ndarray, sample_rate: int, note: float, duration: float, n: int, *, seed: int, steps: int = 16, guidance: float = 2.0,
                temperature: float = 1.0) -> np.ndarray:
        """``n`` unit vectors for a target (a regressor returns its single estimate)."""
        if isinstance(self.model, Surrogate):
            raise ConfigError("a surrogate checkpoint predicts sounds, it does not propose patches; name it as [proposer.options] surrogate")
        mel, sc = self._conditioning(audio, sample_rate, note, duration)
        gen = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            x = self.model.sample(mel, sc, n, steps=steps, guidance=guidance, temperature=temperature, generator=gen).double().numpy()
        return self.space.from_model((x + 1.0) / 2.0)

    def score(self, audio: np.ndarray, sample_rate: int, note: float, duration: float, units: np.ndarray) -> np.ndarray:
        """A surrogate's predicted distance of each patch (unit vectors (n, d)) from the target; lower is nearer."""
        if not isinstance(self.model, Surrogate):
            raise ConfigError(f"a {self.kind} checkpoint cannot score patches; a surrogate checkpoint (train --model surrogate) can")
        mel, sc = self._conditioning(audio, sample_rate, note, duration)
        x = torch.from_numpy(2.0 * self.space.to_model(np.atleast_2d(units).astype(np.float64)) - 1.0).float()
        with torch.inference_mode():  # in chunks: a 500-render cnf-only run scores 4000 draws
            return torch.cat([self.model.score(chunk, mel, sc) for chunk in x.split(1024)]).double().numpy()

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

    def noise(self, n: int, seed: int, temperature: float = 1.0) -> np.ndarray:
        gen = torch.Generator().manual_seed(seed)
        return (temperature * torch.randn(n, self.dim, generator=gen)).double().numpy()

    def decode(self, x0: np.ndarray) -> np.ndarray:
        model = self.checkpoint.model
        assert isinstance(model, Flow)
        with torch.inference_mode():
            x = model.decode(self.conditioning, torch.as_tensor(np.atleast_2d(x0), dtype=torch.float32), steps=self.steps, guidance=self.guidance)
        return self.checkpoint.space.from_model((x.double().numpy() + 1.0) / 2.0)


def _payload(model: torch.nn.Module, cfg: ModelConfig, spec_meta: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "config": cfg.to_dict(), **spec_meta, "state": model.state_dict(), "info": info}


def _save(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _read(path: Path) -> dict[str, Any]:
    """The raw checkpoint dict, or a one-line ConfigError."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"checkpoint not found: {path}") from None
    except Exception as exc:
        raise ConfigError(f"{path} is not a hybridmatch checkpoint ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError(f"{path}: unsupported checkpoint format (expected format {FORMAT}); retrain with `hybridmatch train`")
    return raw


def load_checkpoint(path: str | Path, space: ParamSpace | None = None) -> Checkpoint:
    """Loads a checkpoint; with ``space``, checks it was trained on that exact parameter space."""
    raw = _read(Path(path))
    trained = ParamSpace.from_dict(raw["space"], name=raw["space"].get("name", ""))
    if space is not None and trained.to_dict() != space.to_dict():
        raise ConfigError(f"{path} was trained on another parameter space than {space.name!r}; retrain it for this config")
    cfg = ModelConfig(**raw["config"])
    model = build_model(cfg)
    model.load_state_dict(raw["state"])
    model.eval()
    return Checkpoint(model, cfg, trained, raw["backend"], raw.get("info", {}))


def _held_out_jobs(spec: SynthSpec, data: FlowData, idx: np.ndarray, tail: float | None) -> Iterator[RenderJob]:
    """A target for each held-out item: its true patch rendered at its note and length, with ``tail``
    seconds after note-off (default: the config's ``release``, which is what the dataset used)."""
    synth = spec.build()
    release = float(spec.render.get("release", 0.5)) if tail is None else tail
    for i in idx:
        units, _, cond = data.batch(np.array([i]))
        note, duration = int(cond[0, 0]), float(cond[0, 1])
        target = synth.render(spec.space.to_native(units[0].astype(np.float64)), note=note, duration=duration, seconds=duration + release)
        yield RenderJob(spec, np.atleast_2d(np.asarray(target, dtype=np.float32)), note, duration)


def evaluate(
    ckpt: Checkpoint, spec: SynthSpec, data: FlowData, idx: np.ndarray, *, n: int, workers: int, seed: int = 0, steps: int = 16, guidance: float = 2.0,
    tail: float | None = None,
) -> dict[str, Any]:
    """Audio metrics of re-rendered samples on held-out items, next to prior samples as a floor.

    For each item the true patch is rendered at its note and length; ``n`` model samples (one for a
    regressor) and ``n`` prior samples are rendered and scored against it. Reports the median over
    items of the best-of-n and mean-of-n for every Pareto objective. ``tail`` (seconds rendered after
    note-off for the target) defaults to the config's ``release``, which is what the dataset used."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {"model": [], "model_best": [], "prior": [], "prior_best": []}
    with RenderPool(workers) as pool:
        for job in _held_out_jobs(spec, data, idx, tail):
            proposals = ckpt.propose(job.target, spec.sample_rate, job.note, job.duration, n, seed=int(rng.integers(2**31)), steps=steps,
                                     guidance=guidance)
            for name, units_ in (("model", proposals), ("prior", spec.space.sample(rng, n))):
                evals = pool.evaluate(job, units_)
                objs = np.array([[e.objectives[k] for k in PARETO_KEYS] for e in evals])
                rows[name].append(dict(zip(PARETO_KEYS, objs.mean(axis=0).tolist(), strict=True)))
                best = objs[int(np.argmin([e.loss for e in evals]))]
                rows[f"{name}_best"].append(dict(zip(PARETO_KEYS, best.tolist(), strict=True)))
    return {
        "items": len(idx),
        "n": n,
        **{name: {k: round(float(np.median([r[k] for r in rs])), 4) for k in PARETO_KEYS} for name, rs in rows.items()},
    }


def evaluate_surrogate(ckpt: Checkpoint, spec: SynthSpec, data: FlowData, idx: np.ndarray, *, n: int, pool_n: int = 64, workers: int,
                       seed: int = 0, tail: float | None = None) -> dict[str, Any]:
    """How well a surrogate picks what to render, by audio metrics: for each held-out item, ``pool_n``
    prior patches are rendered and scored against the true patch's render; ``model_best`` is the best
    (by search loss) of the ``n`` the surrogate ranks first, ``prior_best`` the best of ``n`` of them
    taken at random (the first ``n`` drawn), ``model`` / ``prior`` the means over those ``n``, and
    ``spearman`` the rank correlation of the surrogate's score with the search loss over the pool."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, float]]] = {"model": [], "model_best": [], "prior": [], "prior_best": []}
    rhos: list[float] = []
    with RenderPool(workers) as pool:
        for job in _held_out_jobs(spec, data, idx, tail):
            cand = spec.space.sample(rng, pool_n)
            evals = pool.evaluate(job, cand)
            objs = np.array([[e.objectives[k] for k in PARETO_KEYS] for e in evals])
            loss = np.array([e.loss for e in evals])
            predicted = ckpt.score(job.target, spec.sample_rate, job.note, job.duration, cand)
            ranked = np.argsort(predicted, kind="stable")
            rhos.append(float(spearmanr(predicted, loss).statistic))
            for name, pick in (("model", ranked[:n]), ("prior", np.arange(n))):
                rows[name].append(dict(zip(PARETO_KEYS, objs[pick].mean(axis=0).tolist(), strict=True)))
                rows[f"{name}_best"].append(dict(zip(PARETO_KEYS, objs[pick[int(np.argmin(loss[pick]))]].tolist(), strict=True)))
    return {
        "items": len(idx),
        "n": n,
        "pool": pool_n,
        "spearman": round(float(np.nanmedian(rhos)), 4),
        **{name: {k: round(float(np.median([r[k] for r in rs])), 4) for k in PARETO_KEYS} for name, rs in rows.items()},
    }


HOLDOUT = 0.05  # share of a dataset held out from training, for evaluation


def _lr(step: int, steps: int, base: float, warmup: int = 200) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, steps - warmup))))


def _hardware(device: str) -> str:
    cores = f"{os.cpu_count()} cores"
    return f"{torch.cuda.get_device_name()}, {cores}" if device == "cuda" else f"CPU, {cores}"


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
    data = FlowData(Path(data_dir))
    if data.meta["space"] != spec.space.to_dict():
        raise ConfigError(f"{data_dir} was rendered from another parameter space than {spec.space.name!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state_path = out.with_name(out.name + ".state")
    options = dict(model_options or {})
    if kind == "surrogate":  # it predicts the level, so it needs it in the data; and clean renders to learn from
        options["scalars"] = 3
        if data.meta.get("augment"):
            raise ConfigError(f"{data_dir} was rendered with --augment; a surrogate learns what the synth renders, so train it on a dataset made without")
    cfg = ModelConfig(kind=kind, dim=spec.space.model_dim(), **options)
    if cfg.scalars == 3 and not data.has_level:
        raise ConfigError(f"{data_dir} does not record the clip level (made before it was stored); render it again to train with --level")
    torch.manual_seed(seed)
    model = build_model(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    train_idx, held_idx = data.split(holdout, seed=seed)
    rng = np.random.default_rng(seed)
    step, wall, history = 0, 0.0, []
    if state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        if st["config"] != cfg.to_dict() or st["data"] != str(Path(data_dir).resolve()):
            raise ConfigError(f"{state_path} belongs to another run (model or data differ); remove it or use a new --out")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, wall, history = st["step"], st["wall"], st["history"]
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
    spec_meta = {"backend": spec.backend, "space": spec.space.to_dict(), "sample_rate": spec.sample_rate}
    command = " ".join(["hybridmatch", *sys.argv[1:]]) if Path(sys.argv[0]).name == "hybridmatch" else ""

    def info(extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "data": {"dir": str(data_dir), "n": len(data), "train": len(train_idx), "held_out": len(held_idx), "augment": data.meta.get("augment")},
            "steps": step, "batch": batch, "lr": lr, "device": device, "wall_s": round(wall, 3),
            "threads": torch.get_num_threads(), "hardware": _hardware(device), "command": command, "history": history[-20:], **(extra or {}),
        }

    def checkpoint() -> None:
        model.eval()
        _save(out, _payload(model, cfg, spec_meta, info()))
        torch.save({"config": cfg.to_dict(), "data": str(Path(data_dir).resolve()), "model": model.state_dict(), "opt": opt.state_dict(),
                    "step": step, "wall": wall, "history": history, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()},
                   state_path.with_name(state_path.name + ".tmp"))
        state_path.with_name(state_path.name + ".tmp").replace(state_path)
        model.train()

    progress = Progress(steps, quiet=quiet, label=f"train {kind}")
    progress.update(step, "")
    model.train()
    running: dict[str, float] = {}
    try:
        while step < steps:
            t0 = time.perf_counter()
            units, mel, cond = data.batch(rng.choice(train_idx, size=min(batch, len(train_idx)), replace=False))
            x1 = torch.from_numpy(2.0 * spec.space.to_model(units.astype(np.float64)) - 1.0).float().to(device)
            sc = torch.from_numpy(np.stack([scalars(n_, d_, lv if cfg.scalars == 3 else None) for n_, d_, lv in cond])).to(device)
            for group in opt.param_groups:
                group["lr"] = _lr(step, steps, lr)
            loss, parts = model.loss(x1, torch.from_numpy(mel).to(device), sc)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            wall += time.perf_counter() - t0
            running = {k: 0.98 * running.get(k, v) + 0.02 * v for k, v in parts.items()}
            progress.update(step, "  ".join(f"{k} {v:.4f}" for k, v in running.items()) + f"  {step / max(wall, 1e-9):.1f} steps/s")
            if step % 100 == 0:
                history.append({"step": step, **{k: round(v, 5) for k, v in running.items()}})
            if step % checkpoint_every == 0 or step == steps:
                checkpoint()
    except KeyboardInterrupt:
        checkpoint()
        progress.close()
        raise
    progress.close()
    checkpoint()
    ckpt = load_checkpoint(out)
    held = held_idx[: min(eval_items, len(held_idx))]
    if kind == "surrogate":
        result = evaluate_surrogate(ckpt, spec, data, held, n=eval_n, workers=workers, seed=seed)
    else:
        result = evaluate(ckpt, spec, data, held, n=1 if kind == "regress" else eval_n, workers=workers, seed=seed)
    _save(out, _payload(ckpt.model, cfg, spec_meta, info({"held_out_eval": result})))
    summary = {"checkpoint": str(out), "bytes": out.stat().st_size, **info({"held_out_eval": result})}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return summary


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
        "Checkpoints that were replaced, or whose files are gone, are in `results/training-history.md`.",
        "Hardware comes from the record (or the .json beside the checkpoint); `?` means it was not recorded, and every such",
        "checkpoint was trained on the 2-core development VM. The dataset commands are in `scripts/train-checkpoints.sh`.",
        "",
        "| checkpoint | model | MB | data n (augment) | steps | batch | wall s | device / threads | hardware | model best MSS | prior best MSS | model best wMFCC | prior best wMFCC | model mean MSS | prior mean MSS |",
        "|---|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    commands = []
    for path in paths:
        raw = _read(path)
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
