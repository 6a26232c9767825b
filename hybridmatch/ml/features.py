"""Conditioning features for the CNF: a fixed-size log-mel image of the first ``CLIP_SECONDS`` of a
sound from its note-on, plus the note and the note length as scalars (and, for models trained with
``--level``, the clip's RMS level). Optional augmentation narrows
the gap between clean synth renders and real recordings (noise, reverb, EQ tilt, gain).

The log-mel is ``power_to_db(ref=max)`` clipped at -80 dB and scaled to [0, 1], so it ignores the
recording's absolute level just as the MSS objective does.

>>> import numpy as np
>>> x = np.sin(2 * np.pi * 220 * np.arange(44100) / 44100)[None].astype(np.float32)
>>> logmel(x, 44100).shape
(64, 128)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spectral import melspectrogram, power_to_db, resample

__all__ = ["CLIP_SECONDS", "N_MELS", "N_FRAMES", "logmel", "level_db", "scalars", "Augment"]

CLIP_SECONDS = 2.0
N_MELS = 64
N_FRAMES = 128
FEATURE_RATE = 22050
_HOP = int(CLIP_SECONDS * FEATURE_RATE) // N_FRAMES  # 344 samples (15.6 ms)


def logmel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(N_MELS, N_FRAMES)`` float32 in [0, 1] from ``(channels, n)`` or ``(n,)`` audio."""
    mono = np.asarray(audio, dtype=np.float32)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    if sample_rate != FEATURE_RATE:
        mono = resample(mono[None], sample_rate, FEATURE_RATE)[0]
    n = int(CLIP_SECONDS * FEATURE_RATE)
    mono = np.pad(mono[:n], (0, max(0, n - len(mono))))
    mel = melspectrogram(mono, FEATURE_RATE, n_fft=1024, hop_length=_HOP, n_mels=N_MELS)
    db = power_to_db(mel, ref="max", top_db=80.0)[:, :N_FRAMES]
    return ((db + 80.0) / 80.0).astype(np.float32)


def level_db(audio: np.ndarray, sample_rate: int) -> float:
    """RMS level (dBFS, floored at -100) of the first ``CLIP_SECONDS``, the clip the log-mel sees.

    The log-mel is level-free, but wMFCC is not (its c0 is the frame energy): a flow that cannot see
    the level proposes patches at the levels it was trained on, 10-25 dB above a quiet recording
    (results/journal.md). A model trained with ``--level`` gets it as a scalar."""
    mono = np.asarray(audio, dtype=np.float64)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    clip = mono[: int(CLIP_SECONDS * sample_rate)]
    return max(10.0 * float(np.log10(np.mean(clip**2) + 1e-20)), -100.0) if clip.size else -100.0


def scalars(note: float, duration: float, level: float | None = None) -> np.ndarray:
    """The note and the note length (and the level in dBFS, if given), scaled to about [-1, 1]."""
    out = [(note - 60.0) / 24.0, duration / CLIP_SECONDS * 2.0 - 1.0]
    if level is not None:
        out.append((level + 30.0) / 20.0)
    return np.array(out, dtype=np.float32)


@dataclass(frozen=True)
class Augment:
    """Random degradations of the conditioning audio (never of the synth parameters).

    Each is applied with probability ``p``: white noise at ``snr_db``, a pedalboard ``Reverb``
    with wet level up to ``reverb_wet``, an EQ tilt of up to ``tilt_db`` (low and high shelves in
    opposite directions, pedalboard filters) and a gain of up to ``gain_db``. pedalboard is used
    because it is JUCE's DSP, already a dependency for VST3 hosting."""

    p: float = 0.5
    snr_db: tuple[float, float] = (15.0, 50.0)
    reverb_wet: float = 0.35
    tilt_db: float = 6.0
    gain_db: float = 12.0

    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        import pedalboard as pb

        y = np.atleast_2d(np.asarray(audio, dtype=np.float32))
        chain: list[pb.Plugin] = []
        if rng.random() < self.p:
            tilt = float(rng.uniform(-self.tilt_db, self.tilt_db))
            chain += [pb.LowShelfFilter(cutoff_frequency_hz=300.0, gain_db=-tilt), pb.HighShelfFilter(cutoff_frequency_hz=3000.0, gain_db=tilt)]
        if rng.random() < self.p:
            chain.append(pb.Reverb(room_size=float(rng.uniform(0.1, 0.9)), wet_level=float(rng.uniform(0.05, self.reverb_wet)), dry_level=1.0))
        if rng.random() < self.p:
            chain.append(pb.Gain(gain_db=float(rng.uniform(-self.gain_db, self.gain_db))))
        if chain:
            y = pb.Pedalboard(chain)(y, sample_rate)
        if rng.random() < self.p:
            power = float(np.mean(y**2)) + 1e-12
            snr = rng.uniform(*self.snr_db)
            y = y + rng.standard_normal(y.shape).astype(np.float32) * np.sqrt(power / 10 ** (snr / 10))
        return np.asarray(y, dtype=np.float32)
