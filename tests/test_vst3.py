"""The vst3 backend against a real plugin binary (HMSynth, built from tests/fixtures/hmsynth)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from hybridmatch.catalog import load_synth
from hybridmatch.errors import ConfigError, SynthError
from hybridmatch.render import RenderJob, RenderPool
from hybridmatch.space import ParamSpace
from hybridmatch.synths import SynthSpec
from hybridmatch.synths._vst3 import Vst3Synth, describe

from .conftest import HMSYNTH_CONFIG, ROOT, SR

PATCH_A = {"waveform": "Saw", "cutoff_hz": 900.0, "resonance": 3.0, "env_amount_oct": 2.0, "attack_s": 0.005,
           "decay_s": 0.3, "sustain": 0.5, "release_s": 0.05, "detune_ct": 10.0, "gain_db": -6.0}
PATCH_B = {**PATCH_A, "waveform": "Square", "cutoff_hz": 6000.0, "resonance": 7.5, "attack_s": 0.001, "sustain": 1.0,
           "release_s": 2.0, "gain_db": 6.0}  # long release at full level: the tail that would bleed


@pytest.fixture(scope="module")
def spec(hmsynth):
    return load_synth(HMSYNTH_CONFIG, options={"plugin": str(hmsynth)})


@pytest.fixture(scope="module")
def synth(spec):
    return spec.build()


def test_describe_lists_every_parameter_with_kind_range_and_unit(hmsynth, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = describe(hmsynth)
    raw = tomllib.loads(text)
    space = ParamSpace.from_dict(raw)
    params = {p.name: p for p in space.params}
    assert set(params) == {"waveform", "cutoff_hz", "resonance", "env_amount_oct", "attack_s", "decay_s", "sustain",
                           "release_s", "detune_ct", "gain_db", "hang_test"}
    assert params["waveform"].kind == "choice" and params["waveform"].values == ("Sine", "Saw", "Square", "Triangle")
    assert params["hang_test"].values == (False, True)
    cutoff = params["cutoff_hz"]
    assert (cutoff.kind, cutoff.low, cutoff.high, cutoff.label) == ("continuous", 40.0, 16000.0, "Hz")
    assert cutoff.scale == "skew" and 3.0 < cutoff.skew < 3.7  # the plugin's own knob curve (JUCE skew 0.3)
    assert space.fixed == {"bypass": False}
    assert "# 'Cutoff', label 'Hz'" in text and raw["options"]["plugin"] == str(Path(hmsynth).resolve())
    cached = list((tmp_path / "hybridmatch" / "describe").glob("*.toml"))
    assert len(cached) == 1 and cached[0].read_text() == text
    cached[0].write_text(text + "# from the cache\n")
    assert describe(hmsynth).endswith("# from the cache\n")  # path + mtime unchanged: no new sweep
    assert not describe(hmsynth, refresh=True).endswith("# from the cache\n")


def test_render_a_b_a_has_no_state_bleed(synth):
    a1, b, a2 = (synth.render(p, note=57, duration=0.4, seconds=0.6) for p in (PATCH_A, PATCH_B, PATCH_A))
    assert a1.shape == (2, int(0.6 * 44100)) and np.abs(a1).max() > 0.05
    assert np.abs(a1 - b).max() > 0.1  # B really is different (and loud when A starts)
    np.testing.assert_allclose(a1, a2, atol=1e-6)


def test_vstpreset_round_trip_reproduces_values_and_audio(spec, synth, tmp_path, hmsynth):
    path = synth.export(PATCH_A, tmp_path / "a.vstpreset")
    assert path.read_bytes()[:4] == b"VST3"
    fresh = Vst3Synth(spec.space, plugin=str(hmsynth))
    back = fresh.read(path)
    synth._apply(PATCH_A)
    held = synth.current()  # what the exporting instance rendered with (the state stores float32)
    assert back.keys() == held.keys()
    for name, value in held.items():
        assert back[name] == (pytest.approx(value, rel=1e-5) if isinstance(value, float) else value), name
    assert back["waveform"] == "Saw"
    for name, value in PATCH_A.items():  # and that is the asked value, up to one of the plugin's steps
        if isinstance(value, float):
            assert back[name] == pytest.approx(value, rel=5e-3, abs=1e-3), name
    # a fresh instance whose only state is the preset file renders the same audio
    loaded = Vst3Synth(ParamSpace.from_dict({"param": [{"name": "gain_db", "kind": "continuous", "low": -24.0, "high": 6.0}]}),
                       plugin=str(hmsynth), preset=str(path))
    np.testing.assert_allclose(loaded.render({"gain_db": PATCH_A["gain_db"]}, note=60, duration=0.3, seconds=0.5),
                               synth.render(PATCH_A, note=60, duration=0.3, seconds=0.5), atol=1e-6)


def test_unknown_parameter_names_fail_loudly(hmsynth):
    space = ParamSpace.from_dict({"param": [{"name": "cutoff", "kind": "continuous", "low": 40.0, "high": 16000.0}]})
    with pytest.raises(ConfigError, match="did you mean 'cutoff_hz'"):
        Vst3Synth(space, plugin=str(hmsynth))
    with pytest.raises(SynthError, match="not found"):
        Vst3Synth(space, plugin="/nonexistent/Thing.vst3")


def test_hung_render_is_killed_recorded_and_the_pool_goes_on(spec, hmsynth):
    raw = tomllib.loads(HMSYNTH_CONFIG.read_text())
    raw["fixed"].pop("hang_test")
    raw["param"].append({"name": "hang_test", "kind": "choice", "values": [False, True]})
    space = ParamSpace.from_dict(raw)
    hang_spec = SynthSpec("vst3", space, options={"plugin": str(hmsynth)}, render={"timeout": 2.0})
    target = np.zeros((2, 22050), np.float32)
    target[:, :11025] = 0.1 * np.sin(np.arange(11025) * 0.06)
    job = RenderJob(hang_spec, target, note=60, duration=0.3)
    units = space.sample(np.random.default_rng(3), 4)
    hang_index = space.index["hang_test"]
    units[:, hang_index] = 0.25  # off
    units[2, hang_index] = 0.75  # on: processBlock never returns
    for workers in (1, 2):  # one worker: the render still runs in a killable process (and joblib can reuse it after)
        with RenderPool(workers) as pool:
            evals = pool.evaluate(job, units)
            assert "timed out" in (evals[2].error or "")
            assert all(ev.error is None and np.isfinite(ev.loss) for i, ev in enumerate(evals) if i != 2)
            again = pool.evaluate(job, units[[0, 1]])  # the replaced worker renders normally
            assert [ev.loss for ev in again] == pytest.approx([evals[0].loss, evals[1].loss])


def test_describe_then_run_end_to_end_through_the_cli(hmsynth, tmp_path):
    """The issue's done-when, at test scale: describe -> trim -> sample a target -> run -> presets load back."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cli = [sys.executable, "-m", "hybridmatch.cli"]
    text = subprocess.run([*cli, "describe", str(hmsynth)], capture_output=True, text=True, check=True, env=env).stdout
    config = tmp_path / "my.toml"
    config.write_text(text.replace('[fixed]\n', '[fixed]\nhang_test = false\n').replace(
        "\n[[param]]\nname = \"hang_test\"", "\n[[unused]]\nname = \"hang_test\""))
    synth = f"vst3:{hmsynth}"
    subprocess.run([*cli, "sample", "--synth", synth, "--config", str(config), "--seed", "77", "--out", str(tmp_path / "t.wav")],
                   check=True, env=env, capture_output=True, cwd=ROOT)
    subprocess.run([*cli, "run", str(tmp_path / "t.wav"), "--synth", synth, "--config", str(config), "--strategy", "cma",
                    "--budget", "60", "--workers", "2", "--keep", "3", "--quiet", "--out", str(tmp_path / "out")],
                   check=True, env=env, capture_output=True, cwd=ROOT)
    presets = sorted((tmp_path / "out" / "presets").glob("*.vstpreset"))
    assert len(presets) == 3 and all(p.read_bytes()[:4] == b"VST3" for p in presets)


def test_a_config_can_name_the_plugin_and_a_base_preset_relative_to_itself(synth, hmsynth, tmp_path):
    from hybridmatch.catalog import resolve_synth

    (tmp_path / "presets").mkdir()
    synth.export({**PATCH_A, "waveform": "Square"}, tmp_path / "presets" / "base.vstpreset")
    config = tmp_path / "my.toml"
    config.write_text(f'synth = "vst3"\nname = "mine"\n[options]\nplugin = "{hmsynth}"\npreset = "presets/base.vstpreset"\n'
                      '[[param]]\nname = "cutoff_hz"\nkind = "continuous"\nlow = 40.0\nhigh = 16000.0\n')
    spec = resolve_synth("vst3", str(config))
    assert spec.options["preset"] == str(tmp_path / "presets" / "base.vstpreset")
    mine = spec.build()
    assert mine._plugin.waveform == "Square"  # the base preset is loaded before the searched parameter is set
    np.testing.assert_allclose(mine.render({"cutoff_hz": 900.0}, note=60, duration=0.3, seconds=0.5),
                               synth.render({**PATCH_A, "waveform": "Square"}, note=60, duration=0.3, seconds=0.5), atol=1e-6)


def test_refine_finds_the_octave_the_pitch_estimate_missed(spec, synth):
    """A patch played at note 45 but read as 57: of the three octaves tried, the probes pick 45."""
    from hybridmatch.search import OptimizerSpec, Strategy, refine_analysis

    audio = synth.render(PATCH_A, note=45, duration=0.3, seconds=0.6)
    job = RenderJob(spec, audio, 57, 0.3)
    with RenderPool(1) as pool:
        found = refine_analysis(job, Strategy("random", OptimizerSpec("random")), pool, seed=0, note_free=True, duration_free=False)
    assert found.job.note == 45 and found.job.duration == 0.3
    assert [h["note"] for h in found.table] == [57, 45, 69] and len(found.valid) == 6 and found.spent == 12
    assert found.table[1]["best_loss"] < found.table[0]["best_loss"]


def test_a_phrase_is_one_midi_sequence_in_the_plugin(spec, synth):
    """A phrase plays through the plugin as one sequence (one render a candidate): a lone note is the
    note's own render, and two notes sound at their onsets, the second one at its own pitch."""
    from hybridmatch.phrase import Note, render_phrase

    alone = render_phrase(synth, PATCH_A, [Note(0.0, 57, 0.3)], seconds=0.6)
    assert np.allclose(alone, synth.render(PATCH_A, note=57, duration=0.3, seconds=0.6), atol=1e-6)
    both = render_phrase(synth, PATCH_A, [Note(0.0, 57, 0.3), Note(0.4, 69, 0.3)], seconds=0.8)
    second = both[:, int(0.45 * SR):int(0.65 * SR)].mean(axis=0)
    spectrum = np.abs(np.fft.rfft(second))
    assert np.fft.rfftfreq(second.size, 1 / SR)[np.argmax(spectrum)] == pytest.approx(440.0, rel=0.03)
    assert RenderJob(spec, both, 57, 0.3, phrase=(Note(0.0, 57, 0.3), Note(0.4, 69, 0.3))).renders_each == 1
