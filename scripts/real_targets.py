"""Renders the "real recording" targets for `hybridmatch compare`: single General MIDI instrument
notes played by fluidsynth from Debian's fluid-soundfont-gm (with fluidsynth's default reverb and
chorus, so they are not synth renders of any config).

    apt-get install fluidsynth fluid-soundfont-gm && pip install mido
    python scripts/real_targets.py results/hybrid-vs-search/targets-real

mido writes the MIDI files (a maintained library for a format not worth hand-writing); the
fluidsynth command-line renders them.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# (name, GM program, MIDI note, held seconds)
NOTES = [
    ("piano-c4", 0, 60, 0.8), ("epiano-e3", 4, 52, 0.8), ("vibes-g4", 11, 67, 0.6), ("organ-c3", 16, 48, 1.0),
    ("nylon-a3", 24, 57, 0.8), ("bass-e2", 33, 40, 0.8), ("violin-d4", 40, 62, 1.0), ("trumpet-bb3", 56, 58, 0.8),
    ("flute-f5", 73, 77, 0.8), ("saw-lead-c4", 81, 60, 0.8), ("pad-a3", 89, 57, 1.2), ("pizz-g3", 45, 55, 0.5),
]


def play(midi: Path, wav: Path) -> None:
    """fluidsynth plays ``midi`` from the General MIDI soundfont into ``wav`` (44.1 kHz, its default reverb and chorus)."""
    subprocess.run(["fluidsynth", "-ni", "-q", "-r", "44100", "-F", str(wav), SOUNDFONT, str(midi)], check=True)


def render(out: Path) -> None:
    import mido  # only to write the MIDI files: the NOTES table is read without it (scripts/note_accuracy.py)

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, program, note, held in NOTES:
            mid = mido.MidiFile(ticks_per_beat=480)
            track = mido.MidiTrack()
            mid.tracks.append(track)
            ticks = int(held * 2 * 480)  # 120 bpm: one beat is 0.5 s
            track += [mido.Message("program_change", program=program, time=0), mido.Message("note_on", note=note, velocity=100, time=0),
                      mido.Message("note_off", note=note, velocity=0, time=ticks), mido.MetaMessage("end_of_track", time=480)]
            path = Path(tmp) / f"{name}.mid"
            mid.save(path)
            play(path, out / f"{name}.wav")
            print(out / f"{name}.wav")


if __name__ == "__main__":
    render(Path(sys.argv[1] if len(sys.argv) > 1 else "results/hybrid-vs-search/targets-real"))
