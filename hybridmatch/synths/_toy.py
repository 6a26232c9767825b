"""The k-oscillator task of Hayes et al. 2025: a deterministic numpy synth for tests and research.

Each oscillator ``i`` has ``osc{i}_freq`` (Hz), ``osc{i}_amp`` and ``osc{i}_shape`` which morphs
sine (0) → square (0.5) → saw (1). Square and saw are band-limited with PolyBLEP. The oscillators are
summed, so any permutation of them renders identical audio: the symmetry the CNF must learn. The
note is ignored (frequencies are absolute); a short linear fade avoids clicks at note-off.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..space import Native, ParamSpace


def _polyblep(t: np.ndarray, dt: float) -> np.ndarray:
    """PolyBLEP residual for phase ``t`` in [0, 1) at phase increment ``dt``."""
    out = np.zeros_like(t)
    a = t < dt
    x = t[a] / dt
    out[a] = x + x - x * x - 1.0
    b = t > 1.0 - dt
    x = (t[b] - 1.0) / dt
    out[b] = x * x + x + x + 1.0
    return out


def oscillator(freq: float, shape: float, n: int, sample_rate: int) -> np.ndarray:
    """One band-limited oscillator, ``(n,)`` float64, zero initial phase."""
    dt = freq / sample_rate
    phase = (np.arange(n) * dt) % 1.0
    sine = np.sin(2 * np.pi * phase)
    square = np.where(phase < 0.5, 1.0, -1.0) + _polyblep(phase, dt) - _polyblep((phase + 0.5) % 1.0, dt)
    saw = 2.0 * phase - 1.0 - _polyblep(phase, dt)
    if shape <= 0.5:
        w = shape / 0.5
        return (1 - w) * sine + w * square
    w = (shape - 0.5) / 0.5
    return (1 - w) * square + w * saw


class ToySynth:
    def __init__(self, space: ParamSpace, *, sample_rate: int = 44100) -> None:
        self.space = space
        self.sample_rate = sample_rate
        self.k = 0
        while f"osc{self.k + 1}_freq" in space.index:
            self.k += 1
        if self.k == 0:
            raise ConfigError("toy synth space needs osc1_freq, osc1_amp, osc1_shape, ...")

    def render(self, values: Mapping[str, Native], *, note: int, duration: float, seconds: float, velocity: int | None = None) -> np.ndarray:
        """The toy has no velocity response, like an organ: ``velocity`` changes nothing."""
        n = int(round(seconds * self.sample_rate))
        out = np.zeros(n)
        for i in range(1, self.k + 1):
            amp = float(values.get(f"osc{i}_amp", 1.0))
            if amp > 0:
                out += amp * oscillator(float(values[f"osc{i}_freq"]), float(values.get(f"osc{i}_shape", 0.0)), n, self.sample_rate)
        held = min(int(duration * self.sample_rate), n)
        fade = min(int(0.01 * self.sample_rate), n - held)
        out[held + fade :] = 0.0
        out[held : held + fade] *= np.linspace(1.0, 0.0, fade, endpoint=False)
        return (out / self.k).astype(np.float32)[None]

    def export(self, values: Mapping[str, Native], path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"synth": "toy", "params": dict(values)}, indent=1))
        return path
