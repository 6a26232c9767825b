"""Loading, validating and analysing target recordings.

A :class:`Target` is what every search runs against: the audio at the synth's rate, trimmed of
leading and trailing silence, plus the MIDI note and note-on length to render candidates with.

Example
-------
>>> sr = 44100
>>> t = np.arange(sr) / sr
>>> y = (0.5 * np.sin(2 * np.pi * 440.0 * t) * np.exp(-3 * t)).astype(np.float32)
>>> target = analyse(y[None], sr, sample_rate=sr)
>>> target.note
69
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TargetError

__all__ = ["Target", "load_audio", "analyse", "load_target", "estimate_note", "estimate_duration"]

MIN_RATE, MAX_RATE = 8_000, 192_000
SILENCE_DB = -60.0  # peak level under which a file counts as silent
TRIM_TOP_DB = 60.0  # librosa.effects.trim threshold below the peak


@dataclass(frozen=True)
class Target:
    """An analysed target.

    audio: float32, shape ``(channels, samples)`` at ``sample_rate``, silence-trimmed.
    note: MIDI note to render candidates at. duration: note-on length in seconds.
    note_source / duration_source: ``"estimated"``, ``"given"`` or ``"fallback"``.
    """

    audio: np.ndarray
    sample_rate: int
    note: int
    duration: float
    name: str = "target"
    note_source: str = "estimated"
    duration_source: str = "estimated"

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


def load_audio(path: str | Path, *, max_seconds: float = 60.0) -> tuple[np.ndarray, int]:
    """Reads WAV, FLAC, AIFF or MP3 (libsndfile through soundfile) → ``(channels, n)`` float32, rate.

    Raises :class:`TargetError` with one actionable line for every kind of bad file."""
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise TargetError(f"target not found: {path}")
    if not path.is_file():
        raise TargetError(f"target is not a file: {path}")
    if path.stat().st_size == 0:
        raise TargetError(f"target is empty (0 bytes): {path}")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise TargetError(f"not a readable audio file: {path} ({str(exc).strip().splitlines()[0]})") from None
    if info.channels > 2:
        raise TargetError(f"{path} has {info.channels} channels; only mono and stereo are supported")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise TargetError(f"{path} has sample rate {info.samplerate} Hz; supported: {MIN_RATE}-{MAX_RATE} Hz")
    if info.frames > max_seconds * info.samplerate:
        raise TargetError(
            f"{path} is {info.frames / info.samplerate:.1f} s long (limit {max_seconds:g} s); "
            "trim it or raise --max-seconds"
        )
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise TargetError(f"could not decode {path}: {str(exc).strip().splitlines()[0]}") from None
    if data.shape[0] == 0:
        raise TargetError(f"target has no samples: {path}")
    return np.ascontiguousarray(data.T), int(rate)


def estimate_note(audio: np.ndarray, sample_rate: int) -> int | None:
    """Median pYIN f0 over voiced frames → MIDI note, or ``None`` for unpitched sounds.

    audio: ``(channels, n)`` or ``(n,)``. Uses at most the first 3 s."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    y = y.mean(axis=0) if y.ndim == 2 else y
    y = y[: 3 * sample_rate]
    if y.size < 4096:
        return None
    f0, voiced, prob = librosa.pyin(
        y, fmin=32.0, fmax=4200.0, sr=sample_rate, frame_length=4096, hop_length=1024, center=True
    )
    good = voiced & np.isfinite(f0) & (prob > 0.3)
    if good.sum() < 3:
        return None
    return int(np.clip(round(float(librosa.hz_to_midi(np.median(f0[good])))), 0, 127))


def estimate_duration(audio: np.ndarray, sample_rate: int, *, drop_db: float = 12.0) -> float:
    """Note-on length in seconds: the last moment the RMS envelope is within ``drop_db`` of its peak.

    For sustained sounds that is where the release starts; for plucks the decay is inside the note,
    so this is a lower bound, which renders the same audio for a synth whose sound has died out."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    y = y.mean(axis=0) if y.ndim == 2 else y
    hop = max(sample_rate // 100, 1)
    rms = librosa.feature.rms(y=y, frame_length=4 * hop, hop_length=hop, center=True)[0]
    if rms.max() <= 0:
        return y.size / sample_rate
    db = 20 * np.log10(np.maximum(rms, 1e-12) / rms.max())
    last = int(np.nonzero(db > -drop_db)[0][-1])
    seconds = (last + 1) * hop / sample_rate
    return float(min(max(seconds, 0.05), y.size / sample_rate))


def analyse(
    audio: np.ndarray,
    rate: int,
    *,
    sample_rate: int = 44100,
    note: int | None = None,
    duration: float | None = None,
    name: str = "target",
    trim: bool = True,
) -> Target:
    """Validates, resamples, trims and analyses raw audio ``(channels, n)`` into a :class:`Target`."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise TargetError(f"{name}: expected mono or stereo audio, got shape {audio.shape}")
    if audio.shape[-1] == 0:
        raise TargetError(f"{name}: target has no samples")
    if not np.all(np.isfinite(audio)):
        raise TargetError(f"{name}: audio contains NaN or inf samples")
    peak = float(np.abs(audio).max())
    if peak == 0.0 or 20 * math.log10(peak) < SILENCE_DB:
        raise TargetError(f"{name}: audio is silent (peak below {SILENCE_DB:g} dBFS)")
    if rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq", axis=-1)
    if trim:
        _, (start, end) = librosa.effects.trim(audio, top_db=TRIM_TOP_DB, frame_length=1024, hop_length=256)
        audio = audio[:, start:end]
    if audio.shape[-1] < sample_rate // 20:
        raise TargetError(f"{name}: less than 50 ms of sound after trimming silence")
    note_source = duration_source = "given"
    if note is None:
        note = estimate_note(audio, sample_rate)
        note_source = "estimated"
        if note is None:
            note, note_source = 60, "fallback"
    if not 0 <= int(note) <= 127:
        raise TargetError(f"{name}: note {note} is outside MIDI 0-127")
    if duration is None:
        duration = estimate_duration(audio, sample_rate)
        duration_source = "estimated"
    if not duration > 0:
        raise TargetError(f"{name}: duration must be positive, got {duration}")
    return Target(
        audio=np.ascontiguousarray(audio, dtype=np.float32),
        sample_rate=sample_rate,
        note=int(note),
        duration=float(duration),
        name=name,
        note_source=note_source,
        duration_source=duration_source,
    )


def load_target(
    path: str | Path,
    *,
    sample_rate: int = 44100,
    note: int | None = None,
    duration: float | None = None,
    max_seconds: float = 60.0,
    trim: bool = True,
) -> Target:
    """:func:`load_audio` then :func:`analyse`."""
    audio, rate = load_audio(path, max_seconds=max_seconds)
    return analyse(audio, rate, sample_rate=sample_rate, note=note, duration=duration, name=Path(path).stem, trim=trim)
