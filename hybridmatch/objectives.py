"""Audio-domain distances, defined exactly as in Hayes et al. 2025 ("synth-permutations").

All functions take float audio shaped ``(channels, n)`` (or ``(n,)``) at 44.1 kHz unless a
``sample_rate`` is given, and return a float where lower is better. RMS cosine similarity is the one
"higher is better" metric: the stored objective ``rms`` is ``1 - similarity``.

- **MSS** log-mel at (window, hop, mels) = (10 ms, 5 ms, 32), (25 ms, 10 ms, 64), (100 ms, 50 ms, 128),
  hann, power 2, ``power_to_db(ref=np.max)`` per signal (top_db 80); mean |difference| per scale, then
  mean over scales.
- **wMFCC** 20 MFCCs over 128 mels, 50 ms window, 10 ms hop, channels stacked; DTW (dtw-python,
  symmetric2) with mean-L1 local cost; the normalized distance.
- **SOT** magnitude STFT of the channel mean (50 ms hann, 20 ms hop); frames normalized to sum 1;
  1-D Wasserstein-1 over bins on [0, 1]; mean over frames.
- **RMS** cosine similarity of framewise RMS envelopes of the channel mean (50 ms frames, 25 ms hop).
- **MFCCD** (Sound2Synth) 30 MFCCs at 48 kHz (n_fft 2048, hop 512, 128 HTK mels) of the channel mean;
  RMS over coefficients per frame, mean over frames.

A candidate that is silent, empty or non-finite gets the finite :data:`PENALTY` on every objective.

Example
-------
>>> sr = 44100
>>> y = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)[None].astype(np.float32)
>>> mss(y, y)
0.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError
from .spectral import frame_rms, melspectrogram, mfcc, power_to_db, resample, stft_magnitude

__all__ = [
    "OBJECTIVES",
    "PARETO_KEYS",
    "PENALTY",
    "Objective",
    "TargetFeatures",
    "mss",
    "wmfcc",
    "sot",
    "rms_cosine",
    "mfccd",
    "score",
    "search_loss",
    "DEFAULT_WEIGHTS",
    "score_files",
]

SR = 44100
MEL_SCALES = ((0.010, 0.005, 32), (0.025, 0.010, 64), (0.100, 0.050, 128))
PARETO_KEYS = ("mss", "wmfcc", "sot", "rms")
# Finite penalties for silent/NaN renders: worse than any real value (MSS is bounded by top_db=80,
# SOT and 1 - cosine by 1).
PENALTY = {"mss": 100.0, "wmfcc": 1000.0, "sot": 1.0, "rms": 1.0, "mfccd": 1000.0}
SILENT_PEAK = 1e-5
# Search loss = sum(weight * objective). MSS and wMFCC, the metrics reported first, each contribute
# about 1-2 over the candidates a search meets (MSS 10-20, wMFCC 20-40); SOT (0.04-0.1) and 1 - RMS
# cosine (0.03-0.15) contribute about a quarter of that, as tie-breakers. An earlier weighting that
# gave SOT as much weight as MSS let CMA-ES lower the loss while MSS and wMFCC got worse, on the
# cma tuning targets. All four stay objectives of the Pareto set.
DEFAULT_WEIGHTS = {"mss": 1 / 10.0, "wmfcc": 1 / 20.0, "sot": 1 / 0.2, "rms": 1 / 0.5}


def _as_2d(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2:
        raise ParameterError(f"{name}: expected (channels, n) audio, got shape {y.shape}")
    return y


def _match(target: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Same channel count (mono is repeated) and the target's length (pred is padded or cut)."""
    target, pred = _as_2d(target, "target"), _as_2d(pred, "pred")
    channels = max(target.shape[0], pred.shape[0])
    target = np.repeat(target, channels // target.shape[0], axis=0)
    pred = np.repeat(pred, channels // pred.shape[0], axis=0)
    n = target.shape[-1]
    if pred.shape[-1] < n:
        pred = np.pad(pred, ((0, 0), (0, n - pred.shape[-1])))
    return target, pred[:, :n]


# ---------------------------------------------------------------------------------- features
def _mel_specs(y: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    specs = []
    for window, hop, n_mels in MEL_SCALES:
        power = melspectrogram(y, sample_rate, n_fft=int(window * sample_rate), hop_length=int(hop * sample_rate), n_mels=n_mels)
        specs.append(power_to_db(power, ref="max"))
    return specs


def _mfcc(y: np.ndarray, sample_rate: int) -> np.ndarray:
    m = mfcc(y, sample_rate, n_mfcc=20, n_fft=int(0.05 * sample_rate), hop_length=int(0.01 * sample_rate), n_mels=128)
    return m.reshape(-1, m.shape[-1])  # channels stacked: (channels * 20, frames)


def _sot_hist(y: np.ndarray, sample_rate: int) -> np.ndarray:
    mag = stft_magnitude(y.mean(axis=0), int(0.05 * sample_rate), int(0.02 * sample_rate)).T
    hist = mag / np.clip(mag.sum(axis=-1, keepdims=True), 1e-6, None)
    return np.cumsum(hist, axis=-1)  # the CDF is all W1 needs


def _rms_env(y: np.ndarray, sample_rate: int) -> np.ndarray:
    return frame_rms(y.mean(axis=0), int(0.05 * sample_rate), int(0.025 * sample_rate))


def _mfccd_feat(y: np.ndarray, sample_rate: int) -> np.ndarray:
    mono = y.mean(axis=0)
    if sample_rate != 48000:
        mono = resample(mono[None], sample_rate, 48000)[0]
    return mfcc(mono, 48000, n_mfcc=30, n_fft=2048, hop_length=512, n_mels=128, htk=True)


# ---------------------------------------------------------------------------------- distances from features
def _mss_from(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.mean(np.abs(x - y)) for x, y in zip(a, b, strict=True)]))


def _wmfcc_from(a: np.ndarray, b: np.ndarray) -> float:
    from dtw import dtw
    from scipy.spatial.distance import cdist

    # Local cost: mean absolute difference between frames (== cityblock / n_coefficients).
    cost = cdist(a.T.astype(np.float64), b.T.astype(np.float64), metric="cityblock") / a.shape[0]
    return float(dtw(cost, distance_only=True).normalizedDistance)  # step pattern symmetric2 (default)


def _sot_from(cdf_a: np.ndarray, cdf_b: np.ndarray) -> float:
    return float(np.mean(np.sum(np.abs(cdf_a - cdf_b), axis=-1) / cdf_a.shape[-1]))


def _rms_from(a: np.ndarray, b: np.ndarray) -> float:
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def _mfccd_from(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.shape[-1], b.shape[-1])
    return float(np.mean(np.sqrt(np.mean((a[:, :n] - b[:, :n]) ** 2, axis=0))))


# ---------------------------------------------------------------------------------- public plain functions
def mss(target: np.ndarray, pred: np.ndarray, *, sample_rate: int = SR) -> float:
    """Multi-scale log-mel L1 distance in dB. Shapes ``(channels, n)``; lower is better."""
    return OBJECTIVES["mss"].between(target, pred, sample_rate=sample_rate)


def wmfcc(target: np.ndarray, pred: np.ndarray, *, sample_rate: int = SR) -> float:
    """DTW-aligned MFCC distance (normalized symmetric2 DTW, mean-L1 local cost); lower is better."""
    return OBJECTIVES["wmfcc"].between(target, pred, sample_rate=sample_rate)


def sot(target: np.ndarray, pred: np.ndarray, *, sample_rate: int = SR) -> float:
    """Spectral optimal transport: mean framewise W1 between normalized spectra on [0, 1]."""
    return OBJECTIVES["sot"].between(target, pred, sample_rate=sample_rate)


def rms_cosine(target: np.ndarray, pred: np.ndarray, *, sample_rate: int = SR) -> float:
    """Cosine similarity of RMS envelopes in [0, 1]; **higher** is better."""
    return OBJECTIVES["rms"].between(target, pred, sample_rate=sample_rate)


def mfccd(target: np.ndarray, pred: np.ndarray, *, sample_rate: int = SR) -> float:
    """Sound2Synth MFCC distance at 48 kHz; lower is better."""
    return OBJECTIVES["mfccd"].between(target, pred, sample_rate=sample_rate)


# ---------------------------------------------------------------------------------- cached target features
@dataclass(frozen=True)
class Objective:
    """A registered objective: ``features(audio, sr)`` once per signal, ``distance(fa, fb)`` per pair.

    ``higher_is_better`` marks similarities whose stored objective is ``1 - value``."""

    name: str
    features: Callable[[np.ndarray, int], object]
    distance: Callable[[object, object], float]
    higher_is_better: bool = False

    def __call__(self, target_features: TargetFeatures, candidate: np.ndarray) -> float:
        """``(target_features, candidate_audio) -> float``, lower is better; penalized when silent."""
        pred = target_features.prepare(candidate)
        return PENALTY[self.name] if pred is None else self.stored(target_features, pred)

    def between(self, target: np.ndarray, pred: np.ndarray, *, sample_rate: int = SR) -> float:
        """The raw value (a similarity where ``higher_is_better``) of two signals, matched in length."""
        t, p = _match(target, pred)
        return float(self.distance(self.features(t, sample_rate), self.features(p, sample_rate)))

    def stored(self, target_features: TargetFeatures, pred: np.ndarray) -> float:
        """Stored objective of a prepared candidate: ``1 - similarity`` where higher is better, finite."""
        value = self.distance(target_features.get(self.name), self.features(pred, target_features.sample_rate))
        value = 1.0 - value if self.higher_is_better else value
        return float(value) if np.isfinite(value) else PENALTY[self.name]


OBJECTIVES: dict[str, Objective] = {
    "mss": Objective("mss", _mel_specs, _mss_from),  # type: ignore[arg-type]
    "wmfcc": Objective("wmfcc", _mfcc, _wmfcc_from),  # type: ignore[arg-type]
    "sot": Objective("sot", _sot_hist, _sot_from),  # type: ignore[arg-type]
    "rms": Objective("rms", _rms_env, _rms_from, higher_is_better=True),  # type: ignore[arg-type]
    "mfccd": Objective("mfccd", _mfccd_feat, _mfccd_from),  # type: ignore[arg-type]
}


@dataclass
class TargetFeatures:
    """The target's features, computed once per run and reused for every candidate."""

    audio: np.ndarray
    sample_rate: int = SR
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.audio = _as_2d(self.audio, "target")
        if not np.all(np.isfinite(self.audio)):
            raise ParameterError("target audio contains NaN or inf")

    def get(self, name: str) -> object:
        if name not in self._cache:
            self._cache[name] = OBJECTIVES[name].features(self.audio, self.sample_rate)
        return self._cache[name]

    def prepare(self, candidate: np.ndarray) -> np.ndarray | None:
        """Candidate matched to the target's channels and length, or ``None`` if it must be penalized."""
        pred = np.asarray(candidate, dtype=np.float32)
        if pred.size == 0 or not np.all(np.isfinite(pred)) or float(np.abs(pred).max()) < SILENT_PEAK:
            return None
        _, pred = _match(self.audio, pred)
        if pred.shape[0] != self.audio.shape[0]:  # stereo candidate, mono target: compare channel means
            pred = pred.mean(axis=0, keepdims=True)
        return pred


def score(
    features: TargetFeatures, candidate: np.ndarray, *, names: tuple[str, ...] = PARETO_KEYS
) -> dict[str, float]:
    """Every named objective of ``candidate`` against the cached target; all finite."""
    pred = features.prepare(candidate)
    if pred is None:
        return {n: PENALTY[n] for n in names}
    return {n: OBJECTIVES[n].stored(features, pred) for n in names}


def search_loss(objectives: Mapping[str, float], weights: Mapping[str, float] | None = None) -> float:
    """The scalar the optimizers minimize: a weighted sum of stored objectives (lower is better)."""
    weights = DEFAULT_WEIGHTS if weights is None else weights
    return float(sum(w * objectives[k] for k, w in weights.items()))


def score_files(target: np.ndarray, target_rate: int, other: np.ndarray, other_rate: int, *, sample_rate: int = SR) -> dict[str, float]:
    """The five metrics of ``other`` against ``target`` (both resampled to ``sample_rate``; ``other``
    padded or cut to the target's length). ``rms_cosine`` is the similarity itself (higher is better)."""
    def prep(y: np.ndarray, rate: int) -> np.ndarray:
        y = _as_2d(y, "audio")
        if not np.all(np.isfinite(y)):
            raise ParameterError("audio contains NaN or inf samples")
        return resample(y, rate, sample_rate) if rate != sample_rate else y

    features = TargetFeatures(prep(target, target_rate), sample_rate)
    out = score(features, prep(other, other_rate), names=(*PARETO_KEYS, "mfccd"))
    return {"mss": out["mss"], "wmfcc": out["wmfcc"], "sot": out["sot"], "rms_cosine": 1.0 - out["rms"], "mfccd": out["mfccd"]}
