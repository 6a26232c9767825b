"""Transcription on synthetic phrases with known notes, scored as mir_eval scores transcriptions,
and the MIDI files that carry them."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest
from click.testing import CliRunner

from hybridmatch._io import write_wav
from hybridmatch.cli import main
from hybridmatch.errors import TargetError
from hybridmatch.phrase import Note, note_name, read_midi, write_midi
from hybridmatch.transcribe import transcribe

SR = 44100


def _hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


def _voice(freqs: np.ndarray, held: float, release: float = 0.08, level: float = 0.3) -> np.ndarray:
    """A sawtooth-like voice (7 harmonics) following ``freqs`` (Hz per sample, phase-continuous), with
    a 5 ms attack, a sustain while held and an exponential release."""
    phase = 2 * np.pi * np.cumsum(freqs) / SR
    wave = sum(np.sin(k * phase) / k for k in range(1, 8))
    t = np.arange(freqs.size) / SR
    env = np.minimum(t / 0.005, 1.0) * np.where(t < held, 1.0, np.exp(-(t - held) / (release / 5)))
    return (level * wave * env).astype(np.float32)


def _phrase(notes: list[Note], tail: float = 0.4) -> np.ndarray:
    """Each note as its own voice, mixed at its onset (velocity as level)."""
    out = np.zeros(int((max(n.end for n in notes) + tail) * SR), np.float32)
    for n in notes:
        voice = _voice(np.full(int((n.duration + 0.1) * SR), _hz(n.pitch)), n.duration, level=0.3 * n.velocity / 100)
        start = int(n.onset * SR)
        out[start : start + voice.size] += voice[: out.size - start]
    return out


def _f1(reference: list[Note], found: list[Note]) -> float:
    """Note F1 with a 50 ms onset tolerance and the exact semitone (half a semitone either way), no offsets."""
    def intervals(notes: list[Note]) -> np.ndarray:
        return np.array([[n.onset, n.end] for n in notes]).reshape(-1, 2)

    def hz(notes: list[Note]) -> np.ndarray:
        return np.array([_hz(n.pitch) for n in notes])

    _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        intervals(reference), hz(reference), intervals(found), hz(found), onset_tolerance=0.05, pitch_tolerance=50.0, offset_ratio=None)
    return float(f1)


LINE = [Note(0.10, 48, 0.30), Note(0.55, 55, 0.25), Note(0.95, 60, 0.40), Note(1.50, 64, 0.20), Note(1.85, 59, 0.50), Note(2.55, 36, 0.40),
        Note(3.10, 79, 0.25)]


def test_a_detached_line_comes_back_note_for_note():
    found = transcribe(_phrase(LINE), SR)
    assert _f1(LINE, found) == 1.0
    assert [n.pitch for n in found] == [n.pitch for n in LINE]
    held = np.array([n.duration for n in found]) - np.array([n.duration for n in LINE])
    assert np.all(np.abs(held) < 0.06), held  # each held length within 60 ms


def test_a_legato_line_starts_a_note_at_each_new_pitch():
    """One voice whose pitch steps with no new attack: only pYIN's pitch tells where notes start."""
    steps = [(0.0, 57, 0.3), (0.3, 60, 0.3), (0.6, 64, 0.3), (0.9, 62, 0.5)]
    freqs = np.concatenate([np.full(int(d * SR), _hz(p)) for _, p, d in steps])
    audio = np.concatenate([np.zeros(int(0.1 * SR), np.float32), _voice(freqs, held=1.4)])
    reference = [Note(0.1 + t, p, d) for t, p, d in steps]
    found = transcribe(audio, SR)
    assert _f1(reference, found) >= 0.99, found


def test_a_quieter_note_plays_at_a_lower_velocity():
    notes = [Note(0.1, 60, 0.3, velocity=100), Note(0.6, 62, 0.3, velocity=50)]  # the second 6 dB down
    found = transcribe(_phrase(notes), SR)
    assert [n.pitch for n in found] == [60, 62]
    assert found[0].velocity == 100 and 60 <= found[1].velocity <= 80  # 6 dB -> 100 x 10^(-6/40) = 71


def test_noise_holds_no_notes():
    audio = np.random.default_rng(0).normal(0, 0.1, 2 * SR).astype(np.float32)
    assert transcribe(audio, SR) == []
    fading = audio * np.linspace(1, 0, audio.size, dtype=np.float32)  # no attack and no pitch: nothing starts at all
    assert transcribe(fading, SR) == [] and transcribe(np.zeros(SR, np.float32), SR) == []


def test_notes_survive_a_midi_file(tmp_path):
    path = write_midi(LINE, tmp_path / "notes.mid")
    back = read_midi(path)
    assert [(n.pitch, n.velocity) for n in back] == [(n.pitch, n.velocity) for n in LINE]
    assert np.allclose([n.onset for n in back], [n.onset for n in LINE], atol=1e-9)  # times in whole ms are whole ticks
    assert np.allclose([n.duration for n in back], [n.duration for n in LINE], atol=1e-9)
    assert note_name(60) == "C4" and note_name(61) == "C#4"


@pytest.mark.parametrize("content, why", [(b"RIFF....WAVEfmt ", "is not a MIDI file"), (b"", "is not a MIDI file"), (None, "not found")])
def test_a_notes_file_that_is_not_midi_is_one_clear_error(tmp_path, content, why):
    path = tmp_path / "notes.mid"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TargetError, match=why):
        read_midi(path)


def test_a_midi_file_without_notes_is_refused(tmp_path):
    with pytest.raises(TargetError, match="holds no notes"):
        read_midi(write_midi([], tmp_path / "empty.mid"))


def test_the_transcribe_command_writes_the_notes_as_midi(tmp_path):
    write_wav(tmp_path / "line.wav", _phrase(LINE), SR)
    result = CliRunner().invoke(main, ["transcribe", str(tmp_path / "line.wav"), "--out", str(tmp_path / "line.mid")])
    assert result.exit_code == 0, result.output
    assert [n.pitch for n in read_midi(tmp_path / "line.mid")] == [n.pitch for n in LINE]
    assert result.output.splitlines()[-1] == f"{len(LINE)} notes -> {tmp_path / 'line.mid'}"
    assert "G5   (MIDI  79)" in result.output


def test_the_transcribe_command_refuses_bad_phrases_in_one_line(tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.1, 2 * SR).astype(np.float32)
    write_wav(tmp_path / "noise.wav", noise, SR)
    write_wav(tmp_path / "long.wav", np.tile(_phrase(LINE), 3), SR)
    cases = {"no notes": (["noise.wav"], "no pitched notes found"),
             "over the length cap": (["long.wav", "--max-seconds", "5"], "limit 5 s"),
             "not audio": (["notes.txt"], "not a readable audio file")}
    (tmp_path / "notes.txt").write_text("C4 D4 E4")
    for name, (args, needle) in cases.items():
        result = CliRunner().invoke(main, ["transcribe", str(tmp_path / args[0]), *args[1:], "--out", str(tmp_path / "x.mid")])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], (name, result.output)
    assert not (tmp_path / "x.mid").exists()
