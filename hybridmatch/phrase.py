"""A phrase: the notes of a recording of several notes, and their MIDI file.

pretty_midi reads and writes the files: it turns MIDI ticks into seconds through the file's tempo
map and pairs note-ons with their note-offs, which a hand-written reader would have to repeat."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._io import atomic_write
from .errors import TargetError

__all__ = ["Note", "read_midi", "write_midi", "note_name"]

NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


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
    """``60`` -> ``C4``."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def write_midi(notes: Sequence[Note], path: str | Path, *, program: int = 0) -> Path:
    """The notes as a one-track MIDI file (120 bpm), written atomically."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
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
