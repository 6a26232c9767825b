"""A patch playing a phrase: the renderer against a reference mix, velocity reaching the engine,
and `sample --phrase` targets with their notes."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from hybridmatch.catalog import resolve_synth
from hybridmatch.cli import main
from hybridmatch.phrase import Note, random_line, read_midi, render_phrase
from hybridmatch.sampling import known_answer


class _Counting:
    """A synth that records what it was asked to play."""

    def __init__(self, synth):
        self.synth, self.sample_rate, self.calls = synth, synth.sample_rate, []

    def render(self, values, *, note, duration, seconds, velocity=None):
        self.calls.append((note, duration, velocity, seconds))
        return self.synth.render(values, note=note, duration=duration, seconds=seconds, velocity=velocity)


def test_a_phrase_is_each_distinct_note_rendered_once_and_mixed_at_its_onsets(toy_spec):
    synth = _Counting(toy_spec.build())
    values = toy_spec.space.to_native(toy_spec.space.sample(np.random.default_rng(3), 1)[0])
    notes = [Note(0.0, 60, 0.2, 100), Note(0.25, 64, 0.2, 100), Note(0.5, 60, 0.2, 100), Note(0.6, 67, 0.1, 80)]
    seconds, sr = 1.0, toy_spec.sample_rate
    out = render_phrase(synth, values, notes, seconds=seconds)
    assert sorted(c[:3] for c in synth.calls) == [(60, 0.2, 100), (64, 0.2, 100), (67, 0.1, 80)]  # the repeated C4 once
    reference = np.zeros((1, int(seconds * sr)), np.float32)
    for n in notes:
        audio = toy_spec.build().render(values, note=n.pitch, duration=n.duration, seconds=seconds - n.onset)
        start = int(round(n.onset * sr))
        reference[:, start:] += audio[:, : reference.shape[1] - start]
    assert out.shape == reference.shape
    np.testing.assert_allclose(out, reference, atol=1e-6)


class _Engine:
    """Stands in for the vita or dexed-py engine inside a backend: records each note's velocity."""

    def __init__(self, engine):
        self.engine, self.velocities = engine, []

    def render(self, note, velocity, held, seconds):
        self.velocities.append(velocity)
        return self.engine.render(note, velocity, held, seconds)

    def __getattr__(self, name):
        return getattr(self.engine, name)


def test_velocity_reaches_the_engine():
    """A note's velocity is what the engine plays (vita takes it in [0, 1]); None plays the config's."""
    for name, loud, default in [("vital", 1.0, 0.8), ("dexed", 127, 100)]:
        spec = resolve_synth(name, None)
        synth = spec.build()
        synth._synth = engine = _Engine(synth._synth)
        values = spec.space.to_native(spec.space.default_unit())
        for velocity in (127, None):
            synth.render(values, note=60, duration=0.2, seconds=0.3, velocity=velocity)
        assert [v for v in engine.velocities if v] == [loud, default], name  # vital's silent pre-roll plays at 0


def test_a_random_line_stays_in_range_and_in_time():
    notes = random_line(np.random.default_rng(0), 8, low=40, high=76, seconds=4.0)
    assert len(notes) == 8 and all(40 <= n.pitch <= 76 and 70 <= n.velocity <= 120 for n in notes)
    assert all(a.end <= b.onset for a, b in zip(notes, notes[1:], strict=False))  # one note at a time
    assert notes[-1].onset < 4.0


def test_sample_phrase_writes_the_notes_it_played(tmp_path):
    result = CliRunner().invoke(main, ["sample", "--synth", "toy", "--seed", "4", "--phrase", "5", "--out", str(tmp_path / "p.wav")])
    assert result.exit_code == 0, result.output
    notes = read_midi(tmp_path / "p.mid")
    meta = json.loads((tmp_path / "p.json").read_text())
    assert len(notes) == 5 and [n["pitch"] for n in meta["phrase"]] == [n.pitch for n in notes]
    import soundfile as sf

    info = sf.info(str(tmp_path / "p.wav"))
    assert abs(info.frames / info.samplerate - (max(n.end for n in notes) + 1.0)) < 0.01  # the line and a 1 s tail
    assert known_answer(tmp_path / "p.wav", resolve_synth("toy", None)) == meta["params"]  # run scores it playing the phrase
    bad = CliRunner().invoke(main, ["sample", "--synth", "toy", "--seed", "4", "--phrase", "100", "--out", str(tmp_path / "q.wav")])
    assert bad.exit_code == 2 and "1 to 64 notes" in bad.output
