"""Held-length estimation on envelopes whose note-off is known; trimming, framing and resampling
against the librosa functions they stand in for."""

from __future__ import annotations

import numpy as np
import pytest

from hybridmatch.audio import estimate_duration, sound_bounds
from hybridmatch.spectral import frame_rms, resample

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


def _bursts(seed: int, channels: int) -> np.ndarray:
    """Tones and noise bursts at levels 0 to -80 dB between stretches of silence and near-silence."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(rng.integers(2, 6)):
        n = int(rng.integers(200, 20000))
        level = 10 ** (-rng.uniform(0, 80) / 20)
        burst = rng.standard_normal((channels, n)) if rng.random() < 0.5 else np.sin(np.arange(n) * rng.uniform(0.01, 1.0))[None].repeat(channels, 0)
        parts += [burst * level * np.linspace(1, rng.uniform(0, 1), n), np.zeros((channels, int(rng.integers(0, 9000))))]
    return np.concatenate(parts, axis=-1).astype(np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_trimming_and_framing_find_what_librosa_finds(seed):
    import librosa

    audio = _bursts(seed, 1 + seed % 2)
    _, (start, end) = librosa.effects.trim(audio, top_db=60, frame_length=1024, hop_length=256)
    assert sound_bounds(audio) == (start, end)
    mono = audio.mean(axis=0)
    assert np.array_equal(frame_rms(mono, 1764, 441), librosa.feature.rms(y=mono, frame_length=1764, hop_length=441, center=True)[0])


@pytest.mark.parametrize(("rate", "to"), [(44100, 48000), (48000, 44100), (22050, 44100), (96000, 44100), (44100, 11025)])
def test_resampling_matches_librosa_soxr_hq(rate, to):
    import librosa

    audio = _bursts(rate % 7, 2)
    expected = librosa.resample(audio, orig_sr=rate, target_sr=to, res_type="soxr_hq", axis=-1)
    got = resample(audio, rate, to)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
