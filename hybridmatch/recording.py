"""A recording as a target: one note, or a phrase of several notes that every candidate plays.

``notes`` says which:

- ``"one"`` (the default): one note, as :func:`hybridmatch.audio.analyse` reads it;
- ``"auto"``: the recording is transcribed (:func:`hybridmatch.transcribe.transcribe`); fewer than two
  notes make it one note. Two or more make it a phrase that also carries its reading as one note
  (``Target.single``): the transcription reads many single synth notes as several (a pitch envelope,
  an LFO, a release that bends), so probe renders of the synth choose between the two readings
  before the search (:func:`hybridmatch.search.choose_reading`);
- ``"phrase"``: a phrase, however many notes the transcription finds (one at least);
- a MIDI file's path: a phrase of that file's notes, timed from the recording's first sample.

A note or length given on the command line describes one note, so it makes ``auto`` one note.

A phrase is not trimmed at its start (the notes are timed from the file's first sample), only after
its last sound. Its ``note`` and ``duration`` are those of its clearest note, the one with the most
time before the next note starts: the flow proposes from that note alone, since it was trained on
one note and its release, and that note's release is the one least covered by the next note.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .audio import Target, analyse, checked_audio, load_audio, sound_bounds
from .errors import ConfigError, TargetError
from .phrase import Note
from .spectral import resample

__all__ = ["PHRASE_MAX_S", "MODES", "analyse_recording", "load_recording", "check_folder_mode", "clearest"]

PHRASE_MAX_S = 12.0  # the longest phrase matched: each distinct note renders from its onset to the end
MODES = ("one", "auto", "phrase")


def check_folder_mode(notes: str) -> None:
    """:class:`ConfigError` unless ``notes`` can apply to every file of a folder (a MIDI file cannot)."""
    if notes not in MODES:
        raise ConfigError(f"batch --notes takes {', '.join(MODES)}: a MIDI file holds one recording's notes, not a folder's")


def load_recording(path: str | Path, *, sample_rate: int, notes: str = "one", note: int | None = None, duration: float | None = None,
                   max_seconds: float = 60.0) -> Target:
    """:func:`~hybridmatch.audio.load_audio` then :func:`analyse_recording`."""
    audio, rate = load_audio(path, max_seconds=max_seconds)
    return analyse_recording(audio, rate, sample_rate=sample_rate, notes=notes, note=note, duration=duration, name=Path(path).stem)


def analyse_recording(audio: np.ndarray, rate: int, *, sample_rate: int, notes: str = "one", note: int | None = None,
                      duration: float | None = None, name: str = "target") -> Target:
    """The :class:`~hybridmatch.audio.Target` of a recording: one note or a phrase, as ``notes`` says
    (see the module doc). :class:`TargetError` for a phrase with no notes or over ``PHRASE_MAX_S``."""
    given = note is not None or duration is not None
    if notes == "one" or (notes == "auto" and given):
        return analyse(audio, rate, sample_rate=sample_rate, note=note, duration=duration, name=name)
    if given:
        raise TargetError(f"{name}: --note and --duration describe one note; a phrase takes its notes from --notes")
    audio = checked_audio(audio, name)
    if notes != "auto":  # a phrase either way: refused before the transcription
        _check_length(audio.shape[-1] / rate, name)
    if notes in ("auto", "phrase"):
        from .transcribe import transcribe

        found, source = transcribe(audio, rate), "transcribed"
        if notes == "auto" and len(found) < 2:
            return analyse(audio, rate, sample_rate=sample_rate, name=name)
        if not found:
            raise TargetError(f"{name}: no pitched notes found; match it as one note with --notes one")
    else:
        from .phrase import read_midi

        found, source = read_midi(notes), f"given ({Path(notes).name})"
    phrase = _phrase(audio, rate, found, sample_rate=sample_rate, source=source, name=name)
    return replace(phrase, single=analyse(audio, rate, sample_rate=sample_rate, name=name)) if notes == "auto" else phrase


def _phrase(audio: np.ndarray, rate: int, notes: list[Note], *, sample_rate: int, source: str, name: str) -> Target:
    """The phrase target: resampled, cut after its last sound (never before its last note starts)."""
    seconds = audio.shape[-1] / rate
    _check_length(seconds, name)
    playing = [n for n in notes if n.onset < seconds]
    if not playing:
        raise TargetError(f"{name}: none of the {len(notes)} notes starts within its {seconds:.2f} s")
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    last = int(np.ceil(max(n.onset for n in playing) * sample_rate)) + 1
    audio = audio[:, : max(sound_bounds(audio)[1], last)]
    cue = clearest(playing, audio.shape[-1] / sample_rate)
    return Target(np.ascontiguousarray(audio, dtype=np.float32), sample_rate, cue.pitch, cue.duration, name=name,
                  note_source=source, duration_source=source, phrase=tuple(playing))


def _check_length(seconds: float, name: str) -> None:
    if seconds > PHRASE_MAX_S:
        raise TargetError(f"{name}: a phrase of {seconds:.1f} s is over the {PHRASE_MAX_S:g} s matched; cut a shorter loop, "
                          "or match it as one note with --notes one")


def clearest(notes: list[Note], seconds: float) -> Note:
    """The note with the most time before the next one starts (or the phrase ends); the louder of equals."""
    onsets = sorted({n.onset for n in notes})

    def room(n: Note) -> float:
        return min([o for o in onsets if o > n.onset], default=seconds) - n.onset

    return max(notes, key=lambda n: (round(room(n), 3), n.velocity))
