"""The vst3 backend on a real third-party plugin: Dexed, from ../shared/plugins (skipped where absent)."""

from __future__ import annotations

import json
import time
import tomllib

import numpy as np
import pytest
from click.testing import CliRunner

from hybridmatch.catalog import load_synth, resolve_synth
from hybridmatch.cli import main
from hybridmatch.crosscheck import crosscheck, logmel_l1
from hybridmatch.errors import ConfigError
from hybridmatch.sampling import known_answer, save_sample
from hybridmatch.space import ParamSpace
from hybridmatch.synths._vst3 import Vst3Synth, describe

from .conftest import ROOT

CONFIG = ROOT / "configs" / "synths" / "dexed-vst3.toml"


@pytest.fixture(scope="module")
def spec(dexed_plugin):
    return resolve_synth(f"vst3:{dexed_plugin}", None)


@pytest.fixture(scope="module")
def synth(spec):
    return spec.build()


@pytest.fixture(scope="module")
def dexed_py():
    return resolve_synth("dexed", None)


def test_the_plugin_gets_its_curated_config_by_file_name_with_the_dexed_voice_fields(spec, dexed_py):
    assert (spec.backend, spec.space.name, spec.options["voice"]) == ("vst3", "dexed-vst3", "dx7")
    assert spec.space.names == dexed_py.space.names  # the same 145 DX7 fields, names and ranges
    assert [p.kind for p in spec.space.params] == [p.kind for p in dexed_py.space.params]
    assert {f"op{i}_switch" for i in range(1, 7)} <= set(spec.space.fixed)


def test_a_voice_sounds_as_it_does_in_dexed_py(spec, synth, dexed_py):
    """The same DX7 voice through the plugin and through dexed-py: the plugins README measured a
    median 0.17 dB on the ROM voices; prior samples include LFO- and noise-heavy ones."""
    engine = dexed_py.build()
    distances, levels = [], []
    for unit in dexed_py.space.sample(np.random.default_rng(7), 8):
        values = dexed_py.space.to_native(unit)
        a = engine.render(values, note=60, duration=0.5, seconds=0.8)
        b = synth.render(values, note=60, duration=0.5, seconds=0.8)
        assert b.shape == (2, a.shape[1])
        distances.append(logmel_l1(a, b))
        levels.append(np.sqrt(np.mean(b.mean(axis=0) ** 2) / max(np.mean(a**2), 1e-20)))
    assert np.median(distances) < 1.0, distances
    assert abs(np.median(levels) - 1.0) < 0.05  # the config's gain_db puts the plugin at dexed-py's level


def test_a_vstpreset_holds_the_voice_and_sounds_the_same_in_a_fresh_instance(spec, synth, tmp_path):
    values = spec.space.to_native(spec.space.sample(np.random.default_rng(3), 1)[0])
    scored = synth.render(values, note=55, duration=0.4, seconds=0.7)
    path = synth.export(values, tmp_path / "v.vstpreset")
    other = synth.render(spec.space.to_native(spec.space.sample(np.random.default_rng(4), 1)[0]), note=55, duration=0.4, seconds=0.7)
    assert not np.allclose(other, scored, atol=1e-3)  # the export did not leave its voice behind
    loaded = synth.render_preset(path, note=55, duration=0.4, seconds=0.7)
    assert np.abs(loaded - scored).max() <= 1e-3 * np.abs(scored).max()


def test_a_silent_patch_renders_as_fast_as_a_sounding_one(dexed_plugin):
    """pedalboard's default load waits 10 s after every reset for a silent instrument; the backend
    loads with no wait, so a patch at output 0 costs milliseconds (bench-render measures both)."""
    space = load_synth(CONFIG, options={"plugin": str(dexed_plugin)}).space
    silent = ParamSpace.from_dict({**space.to_dict(), "fixed": {**space.fixed, "output": 0.0}}, name="silent")
    synth = Vst3Synth(silent, plugin=str(dexed_plugin), voice="dx7")
    values = silent.to_native(silent.default_unit())
    t0 = time.perf_counter()
    audio = [synth.render(values, note=60, duration=0.3, seconds=0.5) for _ in range(2)]
    assert np.abs(np.asarray(audio)).max() == 0.0
    assert time.perf_counter() - t0 < 5.0  # with the 10 s wait: 40 s (two renders, two resets)


def test_preroll_starts_the_note_later_and_cuts_the_lead_in(spec, synth, dexed_plugin):
    values = spec.space.to_native(spec.space.sample(np.random.default_rng(5), 1)[0])
    values.update(osc_key_sync=1, lfo_sync=1)  # oscillators and LFO start with the note, not with the render
    late = Vst3Synth(spec.space, **{**spec.options, "preroll": 0.1})
    a = synth.render(values, note=62, duration=0.3, seconds=0.5)
    b = late.render(values, note=62, duration=0.3, seconds=0.5)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-2 * np.abs(a).max() and logmel_l1(a, b) < 0.1
    with pytest.raises(ConfigError, match="preroll"):
        Vst3Synth(spec.space, plugin=str(dexed_plugin), preroll=5.0)
    with pytest.raises(ConfigError, match="voice"):
        Vst3Synth(spec.space, plugin=str(dexed_plugin), voice="dx9")


def test_describe_keeps_switches_out_of_the_search(dexed_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    raw = tomllib.loads(describe(dexed_plugin))
    searched = {p["name"] for p in raw["param"]}
    assert {f"op{i}_switch" for i in range(1, 7)} | {"bypass"} <= set(raw["fixed"])
    assert raw["fixed"]["op1_switch"] == "OP1 SWITCH ON" and raw["fixed"]["bypass"] is False
    assert {"osc_key_sync", "lfo_key_sync", "algorithm", "op1_eg_rate_1"} <= searched  # two states, but not switches


@pytest.mark.slow
def test_a_dexed_target_matched_in_the_plugin_with_its_known_answer_and_crosschecked(spec, dexed_py, dexed_plugin, tmp_path):
    """A target sampled with dexed-py keeps its known answer in the plugin; the run's .vstpresets
    and a dexed-py run's .syx voices replay in the plugin as scored."""
    target = save_sample(dexed_py, seed=93100, note=57, duration=0.4, seconds=0.8, out=tmp_path / "t.wav")[0]
    assert known_answer(target, spec) == json.loads(target.with_suffix(".json").read_text())["params"]
    runner = CliRunner()
    for synth, out in ((f"vst3:{dexed_plugin}", "vst3"), ("dexed", "py")):
        result = runner.invoke(main, ["run", str(target), "--synth", synth, "--strategy", "cma", "--budget", "24", "--keep", "3",
                                      "--workers", "1", "--note", "57", "--duration", "0.4", "--out", str(tmp_path / out), "--quiet"])
        assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "vst3" / "results.json").read_text())
    assert summary["config"] == "dexed-vst3" and summary["reference"]["objectives"]["mss"] < 3.0
    assert [c["preset"] for c in summary["candidates"]] == [f"presets/0{i}.vstpreset" for i in (1, 2, 3)]
    table = crosscheck([tmp_path / "vst3", tmp_path / "py"], spec)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| vst3 / ") or line.startswith("| dexed / ")}
    assert set(rows) == {"vst3 / dexed-vst3", "dexed / dexed"}
    for line in rows.values():
        cells = [c.strip() for c in line.split("|")]
        assert cells[2] == "3" and float(cells[3]) < 1.0  # three presets each, median under 1 dB
    assert float([c.strip() for c in rows["vst3 / dexed-vst3"].split("|")][3]) < 0.01  # the plugin replays its own exactly


_PLUGIN_NAMES = {"env_rate": "eg_rate", "env_level": "eg_level", "frequency_coarse": "f_coarse", "frequency_fine": "f_fine",
                 "detune": "osc_detune", "velocity_sensitivity": "key_velocity", "amp_mod_sensitivity": "a_mod_sens",
                 "breakpoint": "break_point", "left_depth": "l_scale_depth", "right_depth": "r_scale_depth", "frequency_mode": "mode",
                 "left_curve": "l_key_scale", "right_curve": "r_key_scale", "pitch_env_rate": "pitch_eg_rate",
                 "pitch_env_level": "pitch_eg_level", "pitch_mod_sensitivity": "p_mode_sens", "lfo_pitch_mod_depth": "lfo_pm_depth",
                 "lfo_amp_mod_depth": "lfo_am_depth", "lfo_sync": "lfo_key_sync"}
_OFFSETS = {"transpose": -24, "osc_detune": -7, "algorithm": 1}


def _as_plugin_parameter(plugin, name, value):
    """A DX7 voice field as the Dexed plugin's own parameter (its pedalboard name and display value)."""
    op, _, field = name.partition("_") if name[:2] == "op" and name[2].isdigit() else ("", "", name)
    stem = field.rsplit("_", 1)[0] if field[-1].isdigit() else field
    mapped = field.replace(stem, _PLUGIN_NAMES.get(stem, stem))
    key = f"{op}_{mapped}" if op else mapped
    param = plugin.parameters[key]
    if param.type is str:
        return key, param.valid_values[int(value)]
    if param.type is bool:
        return key, bool(value)
    return key, float(int(value) + _OFFSETS.get(mapped, 0))


def test_the_voice_sysex_sounds_like_setting_the_plugin_parameters(spec, dexed_plugin):
    """Why the config sends a sysex: it is the same sound as the 145 parameters, in one message."""
    from hybridmatch.synths._vst3 import load_plugin

    plugin = load_plugin(dexed_plugin)
    for name, value in spec.space.fixed.items():
        setattr(plugin, name, value)
    by_sysex = Vst3Synth(spec.space, plugin=str(dexed_plugin), voice="dx7")
    for unit in spec.space.sample(np.random.default_rng(9), 4):
        # a free-running LFO or oscillator keeps its phase from whatever the instance played before
        values = {**spec.space.to_native(unit), "lfo_sync": 1, "osc_key_sync": 1}
        for name, value in values.items():
            setattr(plugin, *_as_plugin_parameter(plugin, name, value))
        by_parameters = plugin([(bytes([0x90, 60, 100]), 0.0), (bytes([0x80, 60, 0]), 0.4)], duration=0.6, sample_rate=44100,
                               num_channels=2, buffer_size=512, reset=True)
        expected = by_sysex.render(values, note=60, duration=0.4, seconds=0.6)
        assert np.abs(by_parameters - expected).max() <= 2e-2 * np.abs(expected).max()  # measured: up to 0.6%
        assert logmel_l1(by_parameters, expected) < 0.1
