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
    assert line.single is not None and line.single.phrase == () and line.single.note_source == "estimated"  # probes choose between them
    assert analyse_recording(_phrase(LINE), SR, sample_rate=SR, notes="phrase").single is None  # asked for: a phrase, no choice
    note = _phrase([Note(0.05, 57, 0.8)])
    assert analyse_recording(note, SR, sample_rate=SR, notes="auto").phrase == ()
    assert analyse_recording(_phrase(LINE), SR, sample_rate=SR).phrase == ()  # one note unless asked
    given = analyse_recording(_phrase(LINE), SR, sample_rate=SR, notes="auto", note=60)  # a note given on the command line means one note
    assert given.phrase == () and given.note == 60


@pytest.mark.parametrize("played", ["phrase", "one note"])
def test_probes_read_a_phrase_as_a_phrase_and_a_held_note_as_one(toy_spec, monkeypatch, played):
    """Two readings of one recording, the same probes under each (here the patch that played it among
    prior samples): the reading the recording really is scores lower and is kept."""
    from hybridmatch.render import RenderPool
    from hybridmatch.search import OptimizerSpec, Strategy, _refine, choose_reading

    notes = (Note(0.0, 60, 0.3), Note(0.5, 64, 0.2), Note(0.9, 67, 0.3), Note(1.3, 72, 0.5))
    values = toy_spec.space.to_native(toy_spec.space.sample(np.random.default_rng(3), 1)[0])
    synth = toy_spec.build()
    audio = render_phrase(synth, values, notes, seconds=2.2) if played == "phrase" else np.atleast_2d(synth.render(values, note=64, duration=1.2, seconds=2.2))
    true = toy_spec.space.to_unit(values)[None]
    monkeypatch.setattr(_refine, "_probes", lambda job, strategy, seed: np.concatenate([toy_spec.space.sample(np.random.default_rng(seed), 5), true]))
    phrase, single = RenderJob(toy_spec, audio, 72, 0.5, phrase=notes), RenderJob(toy_spec, audio, 64, 1.2)
    seen = []
    found = choose_reading(phrase, single, Strategy("random", OptimizerSpec("random")), RenderPool(1, backend="sequential"), seed=0,
                           on_trial=lambda job, evals: seen.append((bool(job.phrase), len(evals))))
    assert found.phrase is (played == "phrase") and found.job is (phrase if played == "phrase" else single)
    assert seen == [(False, 6), (True, 6)]
    summary = found.summary()
    assert summary["chosen"] == played and summary[f"{played} best_loss"] < 1e-3


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


@pytest.mark.slow
def test_run_notes_auto_reads_a_sampled_phrase_by_probes_and_resumes_under_that_reading(tmp_path):
    """``--notes auto`` on a toy line: probes under both readings, the phrase kept, the other
    reading's probes counted in the budget, and a rerun into the folder continues the same job."""
    runner = CliRunner()
    wav = tmp_path / "line.wav"
    assert runner.invoke(main, ["sample", "--synth", "toy", "--seed", "4", "--phrase", "4", "--out", str(wav)]).exit_code == 0
    out = tmp_path / "out"
    args = ["run", str(wav), "--synth", "toy", "--strategy", "cma", "--budget", "60", "--keep", "2", "--workers", "1", "--out", str(out),
            "--quiet", "--notes", "auto"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    assert res["analysis"]["reading"]["chosen"] == "phrase" and res["analysis"]["chosen"]["reading"] == "phrase"
    assert res["analysis"]["spent"] == 6 and res["renders"] == 60 and len(res["phrase"]["notes"]) >= 2
    origins = {json.loads(line)["origin"] for line in (out / "probes.jsonl").read_text().splitlines()}
    assert any(o.startswith("phrase of") for o in origins) and any(o.startswith("note ") for o in origins)
    assert res["job"]["reading"] == "auto"
    again = runner.invoke(main, args)
    assert again.exit_code == 0, again.output
    assert json.loads((out / "results.json").read_text())["analysis"]["chosen"] == res["analysis"]["chosen"]


def test_a_held_note_read_both_ways_is_matched_and_resumed_as_one_note(toy_spec, monkeypatch, tmp_path):
    """The transcription cut one held note into a phrase; the probes keep the one-note reading, the
    run searches and reports it as one note, and a rerun into the folder resumes under that reading."""
    from dataclasses import replace

    from hybridmatch.audio import Target
    from hybridmatch.engine import run_match
    from hybridmatch.render import RenderPool
    from hybridmatch.search import OptimizerSpec, Strategy, _refine

    values = toy_spec.space.to_native(toy_spec.space.sample(np.random.default_rng(3), 1)[0])
    audio = np.atleast_2d(toy_spec.build().render(values, note=64, duration=1.2, seconds=2.2)).astype(np.float32)
    true = toy_spec.space.to_unit(values)[None]
    monkeypatch.setattr(_refine, "_probes", lambda job, strategy, seed: np.concatenate([toy_spec.space.sample(np.random.default_rng(seed), 5), true]))
    single = Target(audio, toy_spec.sample_rate, 64, 1.2, note_source="given", duration_source="given")
    misread = (Note(0.0, 64, 0.4), Note(0.45, 66, 0.4), Note(0.9, 62, 0.5))
    target = replace(single, note=64, duration=0.4, note_source="transcribed", duration_source="transcribed", phrase=misread, single=single)
    strategy = Strategy("random", OptimizerSpec("random"))
    for _ in range(2):  # the second run resumes the first
        res = run_match(target, toy_spec, strategy, budget=60, keep=2, out_dir=tmp_path, report=False, pool=RenderPool(1, backend="sequential"))
        assert res["analysis"]["chosen"]["reading"] == "one note" and "phrase" not in res
        assert (res["note"], res["duration"], res["renders"]) == (64, 1.2, 60)
        assert res["candidates"][0]["objectives"]["mss"] < 1e-3  # the true patch, probed under the one-note reading
    assert not (tmp_path / "notes.mid").exists()
