"""librosa's spectrogram, mel spectrogram, MFCC, dB conversion, RMS envelope and resampling,
computed the way librosa computes them (numpy, and soxr for resampling), with librosa's own mel
filterbanks read from a disk cache.

Why not call librosa: the render workers score every candidate with these features, and
``import librosa`` loads all of ``librosa.core`` (scipy.signal, scipy.stats, numba's cached
functions): 1.5-2 s of CPU in each worker, on a 2-core machine where the parent is loading the
strategy at the same time, all before a run's first render. The arithmetic here is librosa 0.11's,
operation for operation and in the same dtypes, so the features are the same arrays
(``tests/test_spectral.py`` compares them with librosa's). The filterbanks are not re-derived: a
bank missing from the cache is made by ``librosa.filters.mel`` once and saved.

>>> y = np.sin(2 * np.pi * 440 * np.arange(4410) / 44100).astype(np.float32)
>>> melspectrogram(y, 44100, n_fft=1024, hop_length=256, n_mels=32).shape
(32, 18)
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import numpy as np

__all__ = ["stft_magnitude", "melspectrogram", "power_to_db", "mfcc", "mel_basis", "hann", "frame_rms", "resample"]


@functools.lru_cache(maxsize=16)
def hann(n: int) -> np.ndarray:
    """The periodic Hann window ``scipy.signal.get_window("hann", n)`` returns (float64), by the
    same general-cosine arithmetic; read-only, since one array serves every call."""
    fac = np.linspace(-np.pi, np.pi, n + 1)[:-1]
    w = np.zeros(n)
    for k, a in enumerate((0.5, 0.5)):
        w += a * np.cos(k * fac)
    w.flags.writeable = False
    return w


def centred_frames(y: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """Frames of ``y`` (``(..., n)``) as librosa frames a centred, zero-padded signal: a strided view
    ``(..., frame_length, frames)``, frame ``t`` centred on sample ``t * hop``."""
    half = frame_length // 2
    padded = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(half, half)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length, axis=-1)[..., ::hop, :]
    return np.swapaxes(frames, -1, -2)


def stft_magnitude(y: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))`` with its defaults (Hann
    window of ``n_fft``, centred frames, zero padding): float32 ``(..., 1 + n_fft // 2, frames)``."""
    frames = centred_frames(np.asarray(y), n_fft, hop_length)
    spectrum = np.zeros(frames.shape[:-2] + (1 + n_fft // 2, frames.shape[-1]), dtype=np.complex64, order="F")  # librosa's output array:
    spectrum[...] = np.fft.rfft(hann(n_fft)[:, None] * frames, axis=-2)  # its memory order steers einsum's sums in melspectrogram
    return np.abs(spectrum)


def melspectrogram(y: np.ndarray, sample_rate: int, *, n_fft: int, hop_length: int, n_mels: int, htk: bool = False) -> np.ndarray:
    """``librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=..., hop_length=..., n_mels=...,
    htk=...)``: the power spectrogram through librosa's mel filterbank, float32 ``(..., n_mels, frames)``."""
    power = stft_magnitude(y, n_fft, hop_length) ** 2.0
    return np.einsum("...ft,mf->...mt", power, mel_basis(sample_rate, n_fft, n_mels, htk), optimize=True)


def power_to_db(power: np.ndarray, *, ref: float | str = 1.0, top_db: float | None = 80.0, amin: float = 1e-10) -> np.ndarray:
    """``librosa.power_to_db(power, ref=ref, top_db=top_db, amin=amin)``; ``ref="max"`` stands for
    librosa's ``ref=np.max``."""
    ref_value = np.max(power) if ref == "max" else np.abs(ref)
    log_spec: np.ndarray = 10.0 * np.log10(np.maximum(amin, power))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def mfcc(y: np.ndarray, sample_rate: int, *, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int, htk: bool = False) -> np.ndarray:
    """``librosa.feature.mfcc`` with these arguments and its defaults (type-2 orthonormal DCT of the
    dB mel spectrogram, no liftering): ``(..., n_mfcc, frames)``."""
    import scipy.fft

    db = power_to_db(melspectrogram(y, sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, htk=htk))
    return scipy.fft.dct(db, axis=-2, type=2, norm="ortho")[..., :n_mfcc, :]


def frame_rms(y: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """RMS of each frame of ``y`` (``(..., n)``), centred and zero-padded: ``librosa.feature.rms`` with
    its defaults, computed the same way (float32 squares averaged over the same strided view). ``(..., frames)``."""
    return np.sqrt(np.mean(np.square(centred_frames(y, frame_length, hop), dtype=np.float32), axis=-2))


def resample(audio: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """``audio`` (``(channels, n)``) from ``rate`` to ``sample_rate`` by soxr at high quality, as
    ``librosa.resample(res_type="soxr_hq")`` does it: each channel, then cut or zero-padded to
    ``ceil(n * ratio)`` samples."""
    import soxr

    out = np.stack([soxr.resample(channel, rate, sample_rate, quality="soxr_hq") for channel in audio])
    n = int(np.ceil(audio.shape[-1] * (float(sample_rate) / rate)))  # librosa's length, float rounding included
    out = out[:, :n] if out.shape[-1] >= n else np.pad(out, [(0, 0), (0, n - out.shape[-1])])
    return np.asarray(out, dtype=audio.dtype)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybridmatch" / "mel"


@functools.lru_cache(maxsize=16)
def mel_basis(sample_rate: int, n_fft: int, n_mels: int, htk: bool = False) -> np.ndarray:
    """``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, htk=htk)`` (float32
    ``(n_mels, 1 + n_fft // 2)``), from the cache when an earlier process made it with the same
    librosa; else made now and saved there (a cache that cannot be written is skipped)."""
    from importlib.metadata import version

    from ._io import write_npy

    path = _cache_dir() / f"librosa-{version('librosa')}-{sample_rate}-{n_fft}-{n_mels}-{'htk' if htk else 'slaney'}.npy"
    with contextlib.suppress(OSError, ValueError, EOFError):  # missing or unreadable: made again
        return np.load(path)
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, htk=htk)
    with contextlib.suppress(OSError):
        write_npy(path, basis)
    return basis
