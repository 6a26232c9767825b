"""The conditional flow (flow matching) and the regression baseline, in torch.

- :class:`AudioEncoder`: a small 1-D CNN over the log-mel, plus the note and note length.
- Two vector fields ``v(x_t, t | audio)``:
  - :class:`DiTField`: a DiT (adaLN-conditioned transformer) over learned tokens. Parameters map to
    tokens through :class:`Param2Tok`, a learned assignment matrix with an L1 penalty, initialised
    near-uniform so the model starts close to invariant to permutations of parameters (after
    ``LearntProjection`` in ben-hayes/synth-permutations, src/models/components/transformer.py).
  - :class:`MLPField`: a residual MLP with FiLM conditioning, the simpler variant to compare against.
- :class:`Flow`: rectified-flow training with minibatch optimal-transport coupling
  (``scipy.optimize.linear_sum_assignment``) and classifier-free guidance (the conditioning is
  replaced by a learned null embedding 10% of the time); Euler sampling.
- :class:`Regressor`: the paper's baseline, an MLP head on the same encoder trained with MSE.
- :class:`Surrogate`: the other direction, a forward model of the synth (patch, note, length → the
  render's log-mel and level), which ranks a flow's samples before any is rendered.

Parameters live in the space's *model face* (``ParamSpace.to_model``: one-hot choices), scaled to
[-1, 1]; samples decode back with ``from_model`` (argmax for choices).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .features import N_FRAMES, N_MELS

__all__ = ["ModelConfig", "AudioEncoder", "Param2Tok", "DiTField", "MLPField", "Flow", "Regressor", "Surrogate", "build_model"]


@dataclass(frozen=True)
class ModelConfig:
    kind: str  # "dit", "mlp" (flows), "regress" or "surrogate"
    dim: int  # model-face width of the parameter space
    cond_dim: int = 192
    d_model: int = 96
    layers: int = 4
    heads: int = 4
    tokens: int = 12
    d_token: int = 32
    hidden: int = 384  # residual-MLP width
    cfg_drop: float = 0.1
    assign_l1: float = 1e-3
    scalars: int = 2  # conditioning scalars: note and note length; 3 adds the level (train --level)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AudioEncoder(nn.Module):
    """(B, N_MELS, N_FRAMES) log-mel and (B, n_scalars) scalars → (B, cond_dim).

    A 1-D CNN over time with the mel bins as channels, then a linear head over the remaining 8 time
    steps (so the envelope's shape survives). Chosen over a 2-D CNN because its backward pass is much
    cheaper on CPU, where the shipped checkpoints were trained."""

    def __init__(self, cond_dim: int, n_scalars: int = 2) -> None:
        super().__init__()
        chans = [N_MELS, 128, 128, 128, 128]
        blocks: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            blocks += [nn.Conv1d(a, b, 5, stride=2, padding=2), nn.GroupNorm(8, b), nn.GELU()]
        self.cnn = nn.Sequential(*blocks)
        flat = chans[-1] * (N_FRAMES // 16)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(flat, cond_dim), nn.GELU(), nn.Linear(cond_dim, cond_dim))
        self.scalars = nn.Linear(n_scalars, cond_dim)

    def forward(self, mel: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        return self.head(self.cnn(mel)) + self.scalars(scalars)


class Param2Tok(nn.Module):
    """Learned parameter → token assignment (and back), sparse through an L1 penalty."""

    def __init__(self, dim: int, tokens: int, d_token: int, d_model: int) -> None:
        super().__init__()
        assign = torch.full((tokens, dim), 1.0 / math.sqrt(tokens * dim))
        self.assign = nn.Parameter(assign + 1e-4 * torch.randn_like(assign))
        proj = (torch.randn(1, d_token) / math.sqrt(d_token)).repeat(dim, 1)
        proj = proj + 1e-4 * torch.randn_like(proj)
        self.in_proj = nn.Parameter(proj.clone())
        self.out_proj = nn.Parameter(proj.T.clone())
        # Per-parameter MLPs run at the small token width; the linear maps to and from the model width
        # commute with the assignment, so they run on the few tokens instead of every parameter.
        self.ffn_in = nn.Sequential(nn.Linear(d_token, d_token), nn.GELU(), nn.Linear(d_token, d_token))
        self.up = nn.Linear(d_token, d_model)
        self.down = nn.Linear(d_model, d_token)
        self.ffn_out = nn.Sequential(nn.Linear(d_token, d_token), nn.GELU(), nn.Linear(d_token, d_token))

    def to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        values = self.ffn_in(torch.einsum("bn,nd->bnd", x, self.in_proj))
        return self.up(torch.einsum("bnd,kn->bkd", values, self.assign))

    def to_params(self, tokens: torch.Tensor) -> torch.Tensor:
        back = self.ffn_out(torch.einsum("bkd,kn->bnd", self.down(tokens), self.assign))
        return torch.einsum("bnd,dn->bn", back, self.out_proj)

    def penalty(self) -> torch.Tensor:
        return self.assign.abs().mean()


class _DiTBlock(nn.Module):
    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False)
        self.attn = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        last = nn.Linear(d_model, 6 * d_model)
        nn.init.zeros_(last.weight)  # adaLN-zero: each block starts as the identity
        nn.init.zeros_(last.bias)
        self.ada = nn.Sequential(nn.GELU(), last)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        g1, b1, a1, g2, b2, a2 = self.ada(z)[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + g1) + b1
        x = x + a1 * self.attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x) * (1 + g2) + b2
        return x + a2 * self.ff(h)


def _time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / half)
    angles = t[:, None] * 1000.0 * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class DiTField(nn.Module):
    """Transformer vector field over Param2Tok tokens; no positional encoding (tokens are a set)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.p2t = Param2Tok(cfg.dim, cfg.tokens, cfg.d_token, cfg.d_model)
        self.cond = nn.Sequential(nn.Linear(cfg.cond_dim + cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))
        self.blocks = nn.ModuleList(_DiTBlock(cfg.d_model, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.d_model = cfg.d_model

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        z = self.cond(torch.cat([c, _time_embedding(t, self.d_model)], dim=-1))
        h = self.p2t.to_tokens(x)
        for block in self.blocks:
            h = block(h, z)
        return self.p2t.to_params(self.norm(h))

    def penalty(self) -> torch.Tensor:
        return self.p2t.penalty()


class _FiLMBlock(nn.Module):
    def __init__(self, width: int, cond: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(cond, 2 * width)
        last = nn.Linear(width, width)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.ff = nn.Sequential(nn.Linear(width, width), nn.GELU(), last)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(z).chunk(2, dim=-1)
        return x + self.ff(self.norm(x) * (1 + scale) + shift)


class MLPField(nn.Module):
    """Residual-MLP vector field with FiLM conditioning on (audio, time)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.inp = nn.Linear(cfg.dim, cfg.hidden)
        self.cond = nn.Sequential(nn.Linear(cfg.cond_dim + 64, cfg.hidden), nn.GELU())
        self.blocks = nn.ModuleList(_FiLMBlock(cfg.hidden, cfg.hidden) for _ in range(cfg.layers))
        self.out = nn.Sequential(nn.LayerNorm(cfg.hidden), nn.Linear(cfg.hidden, cfg.dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        z = self.cond(torch.cat([c, _time_embedding(t, 64)], dim=-1))
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, z)
        return self.out(h)

    def penalty(self) -> torch.Tensor:
        return torch.zeros(())


def ot_pairing(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """Reorders the noise ``x0`` so the minibatch pairs (x0, x1) minimise total squared distance."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(x0, x1).pow(2).detach().cpu().numpy()
    rows, cols = linear_sum_assignment(cost)
    order = np.empty_like(cols)
    order[cols] = rows
    return x0[torch.as_tensor(order, device=x0.device)]


class Flow(nn.Module):
    """Conditional rectified flow: ``x_t = (1 - t) x0 + t x1``, target velocity ``x1 - x0``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = AudioEncoder(cfg.cond_dim, cfg.scalars)
        self.field: nn.Module = DiTField(cfg) if cfg.kind == "dit" else MLPField(cfg)
        self.null = nn.Parameter(torch.randn(1, cfg.cond_dim) * 0.02)

    def loss(self, x1: torch.Tensor, mel: torch.Tensor, scalars: torch.Tensor, *, ot: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.encoder(mel, scalars)
        drop = torch.rand(c.shape[0], 1, device=c.device) < self.cfg.cfg_drop
        c = torch.where(drop, self.null.expand_as(c), c)
        x0 = torch.randn_like(x1)
        if ot:
            x0 = ot_pairing(x0, x1)
        t = torch.rand(x1.shape[0], device=x1.device)
        xt = (1 - t[:, None]) * x0 + t[:, None] * x1
        fm = (self.field(xt, t, c) - (x1 - x0)).pow(2).mean()
        penalty = self.field.penalty()  # type: ignore[operator]
        return fm + self.cfg.assign_l1 * penalty, {"fm": fm.item(), "l1": penalty.item()}

    @torch.no_grad()
    def sample(
        self, mel: torch.Tensor, scalars: torch.Tensor, n: int, *, steps: int = 16, guidance: float = 2.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` samples for one conditioning (``mel`` (1, M, T), ``scalars`` (1, n_scalars)), Euler steps;
        ``guidance`` w mixes ``v_uncond + w (v_cond - v_uncond)`` (w = 1: plain conditional).
        """
        x0 = torch.randn(n, self.cfg.dim, generator=generator)
        return self.decode(self.encoder(mel, scalars), x0, steps=steps, guidance=guidance)

    @torch.no_grad()
    def decode(self, c: torch.Tensor, x0: torch.Tensor, *, steps: int = 16, guidance: float = 2.0) -> torch.Tensor:
        """The flow's ODE from starting noise ``x0`` (n, dim) to samples, under the encoded
        conditioning ``c`` (1, cond_dim): a deterministic, smooth map, so a search over ``x0``
        moves over the patches the flow proposes for that target (``[optimizer] latent``)."""
        n = x0.shape[0]
        both = torch.cat([c.expand(n, -1), self.null.expand(n, -1)])
        x = x0
        for i in range(steps):
            t = torch.full((2 * n,), i / steps)
            v = self.field(torch.cat([x, x]), t, both)
            v_c, v_u = v[:n], v[n:]
            x = x + (v_u + guidance * (v_c - v_u)) / steps
        return x


class Regressor(nn.Module):
    """Regression baseline: the same encoder, an MLP head, MSE to the model-face target."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = AudioEncoder(cfg.cond_dim, cfg.scalars)
        self.head = nn.Sequential(nn.Linear(cfg.cond_dim, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, cfg.dim))

    def loss(self, x1: torch.Tensor, mel: torch.Tensor, scalars: torch.Tensor, **_: Any) -> tuple[torch.Tensor, dict[str, float]]:
        mse = (self.head(self.encoder(mel, scalars)) - x1).pow(2).mean()
        return mse, {"mse": mse.item()}

    @torch.no_grad()
    def sample(self, mel: torch.Tensor, scalars: torch.Tensor, n: int = 1, **_: Any) -> torch.Tensor:
        """The single point estimate (regression has no distribution to sample)."""
        return self.head(self.encoder(mel, scalars))


class Surrogate(nn.Module):
    """A forward model of the synth: model-face patch and (note, length) → the render's log-mel
    (``features.logmel``) and its RMS level. The mirror image of :class:`AudioEncoder`: a residual MLP
    FiLM-conditioned on the note and length, then transposed 1-D convolutions up the time axis.

    It never replaces a render. It only orders a flow's samples, so a proposer can draw many more
    than it renders and render the ones whose predicted sound is nearest the target
    (``[proposer.options] surrogate``). Trained with L1 on the log-mel and on the scaled level (the
    log-mel is level-free, and a flow's samples can be far too loud for a quiet recording:
    results/journal.md), on renders without augmentation."""

    LEVEL_WEIGHT = 0.1  # level L1 (scaled units: 20 dB = 1) next to log-mel L1 (in [0, 1]), in the loss

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(cfg.dim, cfg.hidden)
        self.cond = nn.Sequential(nn.Linear(2, cfg.hidden), nn.GELU())
        self.blocks = nn.ModuleList(_FiLMBlock(cfg.hidden, cfg.hidden) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)
        self.seq = nn.Linear(cfg.hidden, 128 * (N_FRAMES // 16))
        self.level = nn.Linear(cfg.hidden, 1)
        chans = [128, 128, 128, 128]
        ups: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            ups += [nn.ConvTranspose1d(a, b, 4, stride=2, padding=1), nn.GroupNorm(8, b), nn.GELU()]
        ups.append(nn.ConvTranspose1d(chans[-1], N_MELS, 4, stride=2, padding=1))
        self.up = nn.Sequential(*ups)

    def forward(self, x: torch.Tensor, scalars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-mel (B, N_MELS, N_FRAMES) in [0, 1], scaled level (B,)) for model-face patches ``x``
        and (note, length) ``scalars`` (B, 2)."""
        z = self.cond(scalars[:, :2])
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, z)
        h = self.norm(h)
        mel = torch.sigmoid(self.up(self.seq(h).view(-1, 128, N_FRAMES // 16)))
        return mel, self.level(h)[:, 0]

    def loss(self, x1: torch.Tensor, mel: torch.Tensor, scalars: torch.Tensor, **_: Any) -> tuple[torch.Tensor, dict[str, float]]:
        pred, level = self(x1, scalars)
        l1 = (pred - mel).abs().mean()
        lv = (level - scalars[:, 2]).abs().mean()
        return l1 + self.LEVEL_WEIGHT * lv, {"mel": l1.item(), "level": lv.item()}

    @torch.no_grad()
    def score(self, x: torch.Tensor, mel: torch.Tensor, scalars: torch.Tensor) -> torch.Tensor:
        """(B,) predicted log-mel L1 of each patch ``x`` from one target (``mel`` (1, M, T), ``scalars``
        (1, 2+) note and length first); lower is nearer. The predicted level is left out: weighted in,
        it picked patches with worse MSS on the recordings and in-domain, and bought wMFCC on the
        recordings only at large weights, at more than 2 MSS (results/journal.md),
        so it stays a training target only."""
        pred, _ = self(x, scalars.expand(x.shape[0], -1))
        return (pred - mel).abs().mean(dim=(1, 2))


def build_model(cfg: ModelConfig) -> Flow | Regressor | Surrogate:
    if cfg.kind in ("dit", "mlp"):
        return Flow(cfg)
    if cfg.kind == "regress":
        return Regressor(cfg)
    if cfg.kind == "surrogate":
        return Surrogate(cfg)
    from ..errors import ConfigError

    raise ConfigError(f"unknown model kind {cfg.kind!r}; use dit, mlp, regress or surrogate")
