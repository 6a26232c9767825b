"""A phrase: the notes of a recording of several notes, their MIDI file, random lines of notes, and
a patch playing a line.

pretty_midi reads and writes the files: it turns MIDI ticks into seconds through the file's tempo
map and pairs note-ons with their note-offs, which a hand-written reader would have to repeat."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write
from .errors import TargetError

__all__ = ["Note", "read_midi", "write_midi", "note_name", "random_line", "render_phrase", "note_groups"]

STEPS = (-7, -5, -4, -3, -2, 2, 3, 4, 5, 7, 12, -12)  # the intervals a random line moves by


@dataclass(frozen=True)
class Note:
    """One played note: its onset and held length in seconds, MIDI pitch and velocity (1-127)."""

    onset: float
    pitch: int
    duration: float
    velocity: int = 100

    @property
    def end(self) -> float:
        """When the key is released, in seconds from the start."""
        return self.onset + self.duration


def note_name(pitch: int) -> str:
    """``60`` -> ``C4`` (pretty_midi's spelling: sharps, octave -1 to 9)."""
    import pretty_midi

    return str(pretty_midi.note_number_to_name(int(pitch)))


def write_midi(notes: Sequence[Note], path: str | Path, *, program: int = 0) -> Path:
    """The notes as a one-track MIDI file (120 bpm, 1000 ticks a beat), written atomically."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(resolution=1000, initial_tempo=120.0)  # half-millisecond ticks: times in whole ms stay exact
    track = pretty_midi.Instrument(program=program)
    track.notes = [pretty_midi.Note(velocity=int(n.velocity), pitch=int(n.pitch), start=float(n.onset), end=float(n.end)) for n in notes]
    midi.instruments.append(track)
    buf = io.BytesIO()
    midi.write(buf)
    return atomic_write(path, buf.getvalue())


def read_midi(path: str | Path) -> list[Note]:
    """Every note of every non-drum track of a MIDI file, by onset. :class:`TargetError` for a file
    that is missing, is not MIDI, or holds no notes."""
    import pretty_midi

    path = Path(path)
    if not path.is_file():
        raise TargetError(f"notes file not found: {path}")
    try:
        midi = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido raises OSError, EOFError, KeyError or ValueError on a file that is not MIDI
        raise TargetError(f"{path} is not a MIDI file ({type(exc).__name__}: {str(exc).strip()[:80]})") from None
    notes = [Note(float(n.start), int(n.pitch), float(n.end - n.start), int(n.velocity))
             for track in midi.instruments if not track.is_drum for n in track.notes if n.end > n.start]
    if not notes:
        raise TargetError(f"{path} holds no notes")
    return sorted(notes, key=lambda n: (n.onset, n.pitch))


def random_line(rng: np.random.Generator, count: int, *, low: int, high: int, seconds: float) -> list[Note]:
    """A monophonic line of ``count`` notes over ``seconds``: one note per equal slot, each held 40-95%
    of it (0.12-1.5 s), moving by common intervals within ``low``-``high``, at velocities 70-120."""
    slot = seconds / count
    pitch = int(rng.integers(low + 5, high - 5))
    notes = []
    for i in range(count):
        pitch = int(np.clip(pitch + rng.choice(STEPS), low, high))
        held = float(np.clip(slot * rng.uniform(0.4, 0.95), 0.12, 1.5))
        notes.append(Note(round(i * slot, 3), pitch, round(held, 3), int(rng.integers(70, 121))))
    return notes


def note_groups(notes: Sequence[Note]) -> dict[tuple[int, float, int], list[float]]:
    """The distinct (pitch, held length, velocity) of ``notes``, each with its onsets: one render each."""
    groups: dict[tuple[int, float, int], list[float]] = {}
    for note in notes:
        groups.setdefault((note.pitch, note.duration, note.velocity), []).append(note.onset)
    return groups


def render_phrase(synth: Any, values: Mapping[str, Any], notes: Sequence[Note], *, seconds: float) -> np.ndarray:
    """``notes`` played by ``synth`` (a :class:`~hybridmatch.synths.Synth`) with ``values``:
    ``(channels, n)`` float32 of ``seconds``. Each distinct (pitch, held length, velocity) is rendered
    once, from its first onset to the end, and added in at each of its onsets. Notes sound as
    separate voices, so a mono patch's glide or voice stealing between them is not heard. A synth
    that plays MIDI sequences itself (``render_notes``: VST3 plugins) plays the notes as one."""
    n = int(round(seconds * synth.sample_rate))
    for note in notes:
        if not 0.0 <= note.onset < seconds:
            raise TargetError(f"a note at {note.onset:g} s is outside the {seconds:g} s phrase")
    if hasattr(synth, "render_notes"):
        return np.asarray(synth.render_notes(values, notes, seconds=seconds), dtype=np.float32)
    groups = note_groups(notes)
    out = np.zeros((1, n), np.float32)
    for (pitch, held, velocity), onsets in groups.items():
        audio = synth.render(values, note=pitch, duration=held, seconds=seconds - min(onsets), velocity=velocity)
        if audio.shape[0] > out.shape[0]:
            out = np.repeat(out, audio.shape[0], axis=0)
        for onset in onsets:
            start = int(round(onset * synth.sample_rate))
            part = audio[:, : n - start]
            out[:, start : start + part.shape[1]] += part
    return out
