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

from .errors import ConfigError, TargetError
from .phrase import Note
from .spectral import frame_rms, resample

__all__ = ["AUDIO_EXTS", "Target", "find_audio", "load_audio", "analyse", "checked_audio", "load_target", "estimate_note", "estimate_duration",
           "sound_bounds"]

AUDIO_EXTS = (".wav", ".flac", ".aif", ".aiff", ".mp3")

MIN_RATE, MAX_RATE = 8_000, 192_000
SILENCE_DB = -60.0  # peak level under which a file counts as silent
TRIM_TOP_DB = 60.0  # trim threshold below the peak, as librosa.effects.trim's top_db


@dataclass(frozen=True)
class Target:
    """An analysed target.

    audio: float32, shape ``(channels, samples)`` at ``sample_rate``, silence-trimmed.
    note: MIDI note to render candidates at. duration: note-on length in seconds.
    note_source / duration_source: ``"estimated"``, ``"given"`` or ``"fallback"``.
    phrase: the notes of a recording of several notes (:mod:`hybridmatch.recording`), each candidate
    plays them all; ``note`` and ``duration`` are then its clearest note's. Empty for one note.
    single: for ``--notes auto``, the same recording read as one note: probe renders choose between
    this phrase and it before the search (:func:`hybridmatch.search.choose_reading`). None otherwise.
    """

    audio: np.ndarray
    sample_rate: int
    note: int
    duration: float
    name: str = "target"
    note_source: str = "estimated"
    duration_source: str = "estimated"
    phrase: tuple[Note, ...] = ()
    single: Target | None = None

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


def find_audio(folder: Path, *, recursive: bool = False, exclude: Path | None = None) -> list[Path]:
    """The audio files in ``folder`` (or under it, ``recursive``), sorted; hidden files and anything
    under ``exclude`` (an output folder inside the input) left out."""
    if not folder.is_dir():
        raise TargetError(f"not a folder of audio files: {folder}")
    skip = exclude.resolve() if exclude is not None else None
    files = []
    for path in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file() or path.suffix.lower() not in AUDIO_EXTS:
            continue
        if skip is None or not path.resolve().is_relative_to(skip):
            files.append(path)
    if not files:
        raise ConfigError(f"no audio files ({', '.join(AUDIO_EXTS)}) in {folder}")
    return files


def load_audio(path: str | Path, *, max_seconds: float = 60.0) -> tuple[np.ndarray, int]:
    """Reads WAV, FLAC, AIFF or MP3 (libsndfile through soundfile) → ``(channels, n)`` float32, rate.

    Raises :class:`TargetError` with one actionable line for every kind of bad file."""
    import soundfile as sf

    if not 0 < max_seconds < np.inf:
        raise ConfigError(f"--max-seconds must be a positive number of seconds, not {max_seconds}")
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
    # Quarter-semitone pitch bins: the median is rounded to a semitone, and pYIN's Viterbi pass over
    # the default tenth-semitone bins took 0.4 s of the analysis (results/note-accuracy.md).
    f0, voiced, prob = librosa.pyin(
        y, fmin=32.0, fmax=4200.0, sr=sample_rate, frame_length=4096, hop_length=1024, center=True, resolution=0.25
    )
    good = voiced & np.isfinite(f0) & (prob > 0.3)
    if good.sum() < 3:
        return None
    return int(np.clip(round(float(librosa.hz_to_midi(np.median(f0[good])))), 0, 127))


def _line_sse(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For every split k (3 <= k <= n-3): the squared error and slope of a least-squares line through
    ``y[:k]`` and through ``y[k:]``, from cumulative sums (O(n))."""
    n = y.size
    x = np.arange(n, dtype=np.float64)
    sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones(n), x, y, x * x, x * y, y * y)]

    def fit(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, sx, sy, sxx, sxy, syy = (c[b] - c[a] for c in sums)
        var = m * sxx - sx * sx
        slope = (m * sxy - sx * sy) / np.maximum(var, 1e-12)
        sse = syy - sy * sy / m - slope * (sxy - sx * sy / m)
        return np.maximum(sse, 0.0), slope

    k = np.arange(3, n - 2)
    left, s1 = fit(np.zeros_like(k), k)
    right, s2 = fit(k, np.full_like(k, n))
    return k, left + right, s1, s2


def estimate_duration(audio: np.ndarray, sample_rate: int, *, drop_db: float = 12.0) -> float:
    """Note-on length in seconds, from the RMS envelope (dB, 10 ms hop).

    The release starts at the knee of the envelope: the split of its audible part (from the peak, or
    from 6 dB below it on a slow attack, to 50 dB below it at the end) into two straight lines in dB that fits best,
    when the line after it falls faster than the one before. Without such a knee (a pluck that decays
    at one rate) it is the last moment the envelope is within ``drop_db`` of its peak; the knee is
    never later than that. The threshold rule alone ran long on slow attacks and long release or
    reverb tails (results/journal.md, "The target's note and length")."""
    y = np.asarray(audio, dtype=np.float32)
    y = y.mean(axis=0) if y.ndim == 2 else y
    hop = max(sample_rate // 100, 1)
    rms = frame_rms(y, 4 * hop, hop)
    if rms.max() <= 0:
        return y.size / sample_rate
    db = 20 * np.log10(np.maximum(rms, 1e-12) / rms.max())
    last = int(np.nonzero(db > -drop_db)[0][-1])
    peak, rise = int(np.argmax(db)), int(np.nonzero(db > -6.0)[0][0])
    start = rise if peak - rise >= 5 else peak  # a slow attack is part of the held note; a fast one is not a segment
    tail = int(np.nonzero(db > -50.0)[0][-1])
    if tail - start >= 10:
        k, sse, s1, s2 = _line_sse(db[start : tail + 1].astype(np.float64))
        best = int(np.argmin(sse))
        if s2[best] < s1[best] - 0.1:  # steeper fall after the knee (dB per 10 ms): the release
            last = min(last, start + int(k[best]))
    seconds = (last + 1) * hop / sample_rate
    return float(min(max(seconds, 0.05), y.size / sample_rate))


def sound_bounds(audio: np.ndarray, top_db: float = TRIM_TOP_DB, frame_length: int = 1024, hop: int = 256) -> tuple[int, int]:
    """Where ``audio`` (``(channels, n)``) is within ``top_db`` of its loudest frame: ``(start, end)``
    samples, as ``librosa.effects.trim`` finds them (any channel counts, the same float32 arithmetic);
    ``(0, 0)`` when nowhere."""
    power = np.square(frame_rms(audio, frame_length, hop))
    db = 10.0 * np.log10(np.maximum(1e-10, power)) - 10.0 * np.log10(np.maximum(1e-10, power.max()))  # librosa.amplitude_to_db
    loud = np.flatnonzero((db > -top_db).any(axis=0))
    if loud.size == 0:
        return 0, 0
    return int(loud[0]) * hop, min(audio.shape[-1], (int(loud[-1]) + 1) * hop)


def checked_audio(audio: np.ndarray, name: str) -> np.ndarray:
    """``audio`` as float32 ``(channels, n)``; :class:`TargetError` unless it is mono or stereo,
    finite and not silent."""
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
    return audio


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
    audio = checked_audio(audio, name)
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    if trim:
        start, end = sound_bounds(audio)
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
    if not 0 < duration < np.inf:
        raise TargetError(f"{name}: duration must be a positive number of seconds, got {duration}")
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
