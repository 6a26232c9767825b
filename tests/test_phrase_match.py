"""Matching a recording of several notes: the target read as a phrase, every candidate playing it,
the proposer hearing its clearest note, and what a phrase run writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hybridmatch.cli import main
from hybridmatch.errors import TargetError
from hybridmatch.phrase import Note, read_midi, render_phrase
from hybridmatch.recording import PHRASE_MAX_S, analyse_recording, clearest
from hybridmatch.render import RenderJob, evaluate_units
from tests.test_transcribe import LINE, SR, _phrase


def test_auto_reads_a_line_as_a_phrase_and_a_held_note_as_one():
    line = analyse_recording(_phrase(LINE), SR, sample_rate=SR, notes="auto", name="line")
    assert [n.pitch for n in line.phrase] == [n.pitch for n in LINE]
    assert (line.note, line.note_source) == (clearest(list(line.phrase), line.seconds).pitch, "transcribed")
    note = _phrase([Note(0.05, 57, 0.8)])
    assert analyse_recording(note, SR, sample_rate=SR, notes="auto").phrase == ()
    assert analyse_recording(_phrase(LINE), SR, sample_rate=SR).phrase == ()  # one note unless asked
    given = analyse_recording(_phrase(LINE), SR, sample_rate=SR, notes="auto", note=60)  # a note given on the command line means one note
    assert given.phrase == () and given.note == 60


def test_the_clearest_note_is_the_one_with_the_most_room_before_the_next():
    notes = [Note(0.0, 60, 0.2), Note(0.3, 62, 0.5), Note(1.4, 64, 0.2), Note(1.6, 65, 0.3)]
    assert clearest(notes, seconds=2.0).pitch == 62  # 1.1 s before the next onset; the last note has 0.4 s
    tie = [Note(0.0, 60, 0.2, velocity=80), Note(0.5, 62, 0.2, velocity=110)]
    assert clearest(tie, seconds=1.0).pitch == 62  # equal room: the louder one


def test_a_phrase_job_scores_the_patch_that_played_it_as_the_phrase(toy_spec):
    """The true patch playing the true notes scores zero; the same patch holding one note does not,
    so the worker really renders the phrase. Each distinct note is one synth render."""
    notes = (Note(0.0, 60, 0.3), Note(0.5, 64, 0.2), Note(0.9, 60, 0.3), Note(1.3, 67, 0.6))
    values = toy_spec.space.to_native(toy_spec.space.sample(np.random.default_rng(3), 1)[0])
    audio = render_phrase(toy_spec.build(), values, notes, seconds=2.2)
    unit = toy_spec.space.to_unit(values)[None]
    phrase = RenderJob(toy_spec, audio, 67, 0.6, phrase=notes)
    one = RenderJob(toy_spec, audio, 67, 0.6)
    assert phrase.renders_each == 3 and one.renders_each == 1
    assert evaluate_units(phrase, unit)[0].objectives["mss"] < 1e-3
    assert evaluate_units(one, unit)[0].objectives["mss"] > 1.0
    assert phrase.key != one.key


def test_the_proposer_hears_the_clearest_note_alone(toy_spec):
    notes = (Note(0.0, 60, 0.2), Note(0.3, 62, 0.5), Note(1.4, 64, 0.2))
    audio = np.arange(2 * SR, dtype=np.float32)[None] / SR
    alone = RenderJob(toy_spec, audio, 62, 0.5, phrase=notes).alone()
    assert alone.phrase == () and (alone.note, alone.duration) == (62, 0.5)
    assert alone.target.shape[-1] == round(1.1 * SR) and alone.target[0, 0] == pytest.approx(0.3, abs=1 / SR)


def test_a_phrase_longer_than_the_cap_or_without_notes_is_refused():
    long = np.tile(_phrase(LINE), int(PHRASE_MAX_S // 3) + 1)
    with pytest.raises(TargetError, match="over the"):
        analyse_recording(long, SR, sample_rate=SR, notes="phrase")
    noise = np.random.default_rng(1).normal(0, 0.1, 2 * SR).astype(np.float32)
    with pytest.raises(TargetError, match="no pitched notes"):
        analyse_recording(noise, SR, sample_rate=SR, notes="phrase")
    assert analyse_recording(noise, SR, sample_rate=SR, notes="auto").phrase == ()  # auto: matched as one sound


@pytest.mark.slow
def test_run_matches_a_sampled_phrase_and_writes_its_notes(tmp_path):
    """``sample --phrase`` then ``run --notes`` with its MIDI: the known answer scores zero under the
    phrase, the budget counts candidates, the report shows the notes, and the folder's job includes
    them (the same target matched as one note is another job)."""
    runner = CliRunner()
    wav = tmp_path / "line.wav"
    assert runner.invoke(main, ["sample", "--synth", "toy", "--seed", "4", "--phrase", "4", "--out", str(wav)]).exit_code == 0
    out = tmp_path / "out"
    args = ["run", str(wav), "--synth", "toy", "--strategy", "cma", "--budget", "12", "--keep", "2", "--workers", "1", "--out", str(out), "--quiet"]
    result = runner.invoke(main, [*args, "--notes", str(wav.with_suffix(".mid"))])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    played = read_midi(wav.with_suffix(".mid"))
    assert [(n["pitch"], n["onset"]) for n in res["phrase"]["notes"]] == [(n.pitch, round(n.onset, 4)) for n in played]
    assert read_midi(out / "notes.mid") == read_midi(wav.with_suffix(".mid"))
    assert res["renders"] == 12 and res["phrase"]["synth_renders"] == 12 * res["phrase"]["renders_each"]
    assert res["reference"]["objectives"]["mss"] < 1e-3 and res["analysis"]["refined"] is False
    assert "a phrase of 4 notes" in result.output and "Phrase</h2>" in (out / "report.html").read_text()
    other = runner.invoke(main, [*args, "--notes", "one"])
    assert other.exit_code == 2 and "holds another job" in other.output
