"""Monophonic transcription: the notes of a recording (onset, MIDI pitch, held length, velocity).

A note starts at an attack or, in a legato line, where pYIN's pitch moves to another semitone and
stays there. An attack is an onset of librosa's spectral-flux detector where the level rises at
least ``RISE_DB`` (the detector also fires where a note stops abruptly), placed where that rise
begins; onsets closer than 93 ms are one attack. A note's pitch is the median voiced pYIN f0 inside
it, rounded to a semitone. Its held length is the knee of its RMS envelope
(:func:`hybridmatch.audio.estimate_duration`, the rule that finds a single note's length), or the
time to the next note where it still sounds at full level then. A restart of the same pitch with
less than ``REPEAT_DB`` of attack is the same note. Its velocity is its peak level against the
loudest note's, which plays at 100. A stretch with too few pitched frames, or quieter than the
loudest note by more than ``QUIET_DB``, is no note (a reverb tail, a breath, a click).

The constants were tuned on fluidsynth phrases outside the measured set
(results/transcription/fluidsynth.md)."""

from __future__ import annotations

import numpy as np

from .audio import estimate_duration
from .phrase import Note
from .spectral import frame_rms, resample

__all__ = ["transcribe", "RATE", "HOP"]

RATE = 22050  # pitch and onsets are tracked at this rate: the fundamentals sit far below it
HOP = 256  # frames of 11.6 ms: onsets land within half a frame of the detector's
FMIN, FMAX = 32.7, 4186.0  # C1 to C8
QUIET_DB = 30.0
MIN_VOICED = 3  # pitched frames a note needs
SETTLE = 2  # frames after an onset left out of the pitch median (the attack's transient)
STAY = 4  # frames a new semitone must hold to start a legato note
STEP = 0.75  # semitones between the runs of a legato change
RISE_DB = 3.0  # the level rise that makes a detected onset an attack
REPEAT_DB = 6.0  # the attack that makes the same pitch, still sounding, a new note


def transcribe(audio: np.ndarray, sample_rate: int) -> list[Note]:
    """The notes of ``audio`` (``(channels, n)`` or ``(n,)``), by onset; empty when none is found."""
    y = np.asarray(audio, dtype=np.float32)
    y = y.mean(axis=0) if y.ndim == 2 else y
    if sample_rate != RATE:
        y = resample(y[None], sample_rate, RATE)[0]
    midi = _pitch_track(y)
    db = 20.0 * np.log10(np.maximum(frame_rms(y, 2 * HOP, HOP), 1e-9))[: len(midi)]
    starts = _note_starts(y, midi, db)
    ends = [*starts[1:], len(midi)][: len(starts)]  # none when nothing starts (no attack, no pitch)
    found = [_note(y, midi, a, b) for a, b in zip(starts, ends, strict=True)]
    return _with_velocities(_joined_repeats([f for f in found if f is not None], db))


def _pitch_track(y: np.ndarray) -> np.ndarray:
    """Fractional MIDI pitch per frame, NaN where pYIN hears no pitch."""
    import librosa

    f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=RATE, frame_length=2048, hop_length=HOP, center=True, resolution=0.25)
    midi = np.full(f0.shape, np.nan)
    good = voiced & np.isfinite(f0)
    midi[good] = librosa.hz_to_midi(f0[good])
    return midi


def _note_starts(y: np.ndarray, midi: np.ndarray, db: np.ndarray) -> list[int]:
    """Frames where a note starts: the detector's attacks, then the pitch changes with no attack
    since the old pitch began and none just before (a new note's pitch settling, or the last note's
    ringing under its attack)."""
    import librosa

    detected = librosa.onset.onset_detect(y=y, sr=RATE, hop_length=HOP, backtrack=True, units="frames")
    onsets = set(_thinned(sorted(_attack_start(db, int(f)) for f in detected if f < len(midi) and _rise(db, int(f)) >= RISE_DB)))
    voiced = np.nonzero(np.isfinite(midi))[0]
    if voiced.size and not any(f <= voiced[0] + STAY for f in onsets):
        onsets.add(int(voiced[0]))  # a note already sounding at the start
    for before, f in _pitch_changes(midi):
        if not any(before + STAY < o <= f + STAY or f - 2 * STAY <= o <= f for o in onsets):  # legato
            onsets.add(f)
    return sorted(onsets)


def _attack_start(db: np.ndarray, frame: int) -> int:
    """Where the attack before a detected onset begins: the frame after the last of the ``2 * STAY``
    frames before it within 3 dB of their quietest. The detector's own backtracking stops at its flux envelope's
    minimum, up to 50 ms late on a soft attack."""
    first = max(frame - 2 * STAY, 0)
    window = db[first : frame + 1]
    return min(first + int(np.nonzero(window <= window.min() + 3.0)[0][-1]) + 1, frame)  # the first frame that rises


def _thinned(onsets: list[int]) -> list[int]:
    """Onsets less than ``2 * STAY`` frames after the one before are one attack (an attack in two
    stages, or a click before the tone)."""
    kept: list[int] = []
    for f in onsets:
        if not kept or f - kept[-1] >= 2 * STAY:
            kept.append(f)
    return kept


def _rise(db: np.ndarray, frame: int) -> float:
    """dB from the lowest level just before ``frame`` to the highest just after it: an attack rises
    ``RISE_DB`` or more, where a note that stops abruptly (the flux detector fires there too) falls."""
    before = db[max(frame - STAY, 0) : frame + 1]
    after = db[frame : frame + 2 * STAY]
    return float(after.max() - before.min()) if after.size and before.size else 0.0


def _pitch_changes(midi: np.ndarray) -> list[tuple[int, int]]:
    """Where the pitch moves to another semitone and stays, as (first frame of the old pitch, first
    frame of the new): runs of one rounded pitch that last ``STAY`` frames, whose median pitch is at
    least ``STEP`` semitones from the run's before them (a vibrato across a semitone boundary moves less)."""
    semis = np.round(midi)
    runs: list[tuple[int, float]] = []  # (first frame, median pitch) of each run long enough to count
    f = 0
    while f < len(semis):
        g = f + 1
        while g < len(semis) and semis[g] == semis[f]:  # NaN never equals itself: an unvoiced frame is a run of one
            g += 1
        if g - f >= STAY and np.isfinite(semis[f]):
            runs.append((f, float(np.median(midi[f:g]))))
        f = g
    return [(old, new) for (new, pitch), (old, before) in zip(runs[1:], runs[:-1], strict=True) if abs(pitch - before) >= STEP]


def _note(y: np.ndarray, midi: np.ndarray, start: int, end: int) -> tuple[Note, float] | None:
    """The note between two starts and its peak RMS, or None where it has too few pitched frames."""
    pitched = midi[min(start + SETTLE, end - 1) : end]
    pitched = pitched[np.isfinite(pitched)]
    if pitched.size < MIN_VOICED or end - start < STAY:
        return None
    clip = y[start * HOP : end * HOP]
    envelope = frame_rms(clip, 2 * HOP, HOP)
    peak = float(envelope.max())
    held = clip.size / RATE if _still_held(envelope) else estimate_duration(clip, RATE)
    return Note(onset=start * HOP / RATE, pitch=int(np.clip(round(float(np.median(pitched))), 0, 127)), duration=held), peak


def _joined_repeats(found: list[tuple[Note, float]], db: np.ndarray) -> list[tuple[Note, float]]:
    """A note that restarts the pitch still sounding at full level, with less than ``REPEAT_DB`` of
    attack, is the same note: a tremolo or a second stage of an attack, not a new key press."""
    out: list[tuple[Note, float]] = []
    for note, peak in found:
        if out:
            last, last_peak = out[-1]
            frame = round(note.onset * RATE / HOP)
            legato = abs(last.end - note.onset) < HOP / RATE
            if note.pitch == last.pitch and legato and _rise(db, frame) < REPEAT_DB:
                out[-1] = (Note(last.onset, last.pitch, note.end - last.onset), max(peak, last_peak))
                continue
        out.append((note, peak))
    return out


def _still_held(envelope: np.ndarray) -> bool:
    """Whether a note is still at its full level when the next one starts (a legato line): then it
    is held until then. The last frame is left out; it is half zero padding."""
    end = envelope[-1 - STAY : -1]
    return end.size > 0 and float(end.mean()) > 0.5 * float(envelope.max())  # within 6 dB


def _with_velocities(found: list[tuple[Note, float]]) -> list[Note]:
    """The notes loud enough to count, each with a velocity from its level (the loudest at 100)."""
    if not found:
        return []
    loudest = max(level for _, level in found)
    notes = []
    for note, level in found:
        db = 20.0 * np.log10(max(level, 1e-12) / loudest)
        if db >= -QUIET_DB:
            velocity = int(np.clip(round(100 * 10 ** (db / 40.0)), 1, 127))  # 12 dB quieter -> 50
            notes.append(Note(note.onset, note.pitch, note.duration, velocity))
    return notes
