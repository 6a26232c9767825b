"""Held-length estimation on envelopes whose note-off is known."""

from __future__ import annotations

import numpy as np
import pytest

from hybridmatch.audio import estimate_duration

SR = 44100


def _tone(envelope: np.ndarray) -> np.ndarray:
    t = np.arange(envelope.size) / SR
    return (0.5 * envelope * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]


def _adsr(attack: float, held: float, release_tau: float, seconds: float = 2.0, sustain: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rise = np.minimum(t / attack, 1.0) * sustain
    at_off = min(held / attack, 1.0) * sustain
    return np.where(t < held, rise, at_off * np.exp(-(t - held) / release_tau))


@pytest.mark.parametrize(("attack", "held", "tau"), [(0.01, 0.5, 0.3), (0.01, 0.8, 0.5), (1.2, 0.5, 0.3), (0.05, 0.3, 0.15)])
def test_the_release_knee_is_found_where_a_threshold_runs_long(attack, held, tau):
    # a slow release (or a slow attack cut by note-off) stays within 12 dB of the peak well after note-off
    assert estimate_duration(_tone(_adsr(attack, held, tau)), SR) == pytest.approx(held, abs=0.04)


def test_a_single_rate_decay_falls_back_to_the_threshold():
    t = np.arange(SR) / SR
    pluck = _tone(np.exp(-t / 0.15))
    assert estimate_duration(pluck, SR) == pytest.approx(0.15 * np.log(10 ** (12 / 20)), abs=0.03)  # where it is 12 dB down
