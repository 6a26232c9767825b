from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from hybridmatch.catalog import load_synth
from hybridmatch.errors import ConfigError
from hybridmatch.synths import registered

from .conftest import HMSYNTH_CONFIG


def test_every_registered_synth_has_a_config_under_contract_test(configs):
    paths = [*configs.glob("*.toml"), HMSYNTH_CONFIG]
    backends = {__import__("tomllib").loads(p.read_text()).get("synth") or load_synth(p).backend for p in paths}
    assert set(registered()) <= backends


def test_synth_contract(any_spec, tmp_path):
    """Shape, dtype, finiteness, repeatability, picklable spec and native export for every config."""
    spec = pickle.loads(pickle.dumps(any_spec))
    synth = spec.build()
    units = spec.space.sample(np.random.default_rng(11), 3)
    renders = [synth.render(spec.space.to_native(u), note=57, duration=0.2, seconds=0.35) for u in units]
    for audio in renders:
        assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] in (1, 2)
        assert audio.shape[1] == int(round(0.35 * spec.sample_rate)) and np.all(np.isfinite(audio))
    again = synth.render(spec.space.to_native(units[0]), note=57, duration=0.2, seconds=0.35)
    peak = max(float(np.abs(renders[0]).max()), 1e-6)
    assert float(np.abs(again - renders[0]).max()) <= 1e-2 * peak + 1e-6
    assert not np.allclose(renders[0], renders[1])  # parameters matter
    soft = synth.render(spec.space.to_native(units[0]), note=57, duration=0.2, seconds=0.35, velocity=30)  # every backend takes a velocity
    assert soft.shape == renders[0].shape and np.all(np.isfinite(soft))
    path = synth.export(spec.space.to_native(units[0]), tmp_path / f"p{spec.preset_ext}")
    assert path.exists() and path.stat().st_size > 0


def test_unknown_backend_and_control_names_are_config_errors(configs, tmp_path):
    with pytest.raises(ConfigError):
        load_synth(configs / "toy.toml", backend="nope")
    bad = tmp_path / "bad.toml"
    bad.write_text('synth = "vital"\n[[param]]\nname = "osc_9_level"\nkind = "continuous"\n')
    with pytest.raises(ConfigError, match="osc_9_level"):
        load_synth(bad).build()


def test_toy_oscillators_are_exactly_permutable(toy_spec):
    synth, space = toy_spec.build(), toy_spec.space
    u = space.sample(np.random.default_rng(5), 1)[0]
    a = synth.render(space.to_native(u), note=60, duration=0.3, seconds=0.3)
    for perm in ([1, 0, 2], [2, 0, 1]):
        b = synth.render(space.to_native(space.permute(u, "oscillators", perm)), note=60, duration=0.3, seconds=0.3)
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_vital_wave_frame_morphs_through_the_installed_wavetable(configs):
    spec = load_synth(configs / "vital-simple.toml")
    synth, space = spec.build(), spec.space
    base = space.to_native(space.default_unit())
    base.update({"osc_1_level": 0.8, "osc_2_level": 0.0, "osc_3_level": 0.0, "filter_1_cutoff": 136.0, "filter_2_cutoff": 136.0,
                 "reverb_dry_wet": 0.0, "osc_1_unison_voices": 1})
    renders = [synth.render({**base, "osc_1_wave_frame": f}, note=48, duration=0.3, seconds=0.3) for f in (0.0, 128.0, 256.0)]
    spectra = [np.abs(np.fft.rfft(r[0, 4000:12000])) for r in renders]
    harmonic_share = [1 - s.max() / s.sum() for s in spectra]  # sine: energy in one bin; saw/square: spread
    assert harmonic_share[0] < harmonic_share[1] and harmonic_share[0] < harmonic_share[2]


def test_vital_export_round_trips_through_vita(configs, tmp_path):
    spec = load_synth(configs / "vital-simple.toml")
    synth, space = spec.build(), spec.space
    values = space.to_native(space.sample(np.random.default_rng(21), 1)[0])
    path = synth.export(values, tmp_path / "p.vital")
    loaded = spec.build().read_preset(path)
    for name, value in values.items():
        assert loaded[name] == pytest.approx(float(value), rel=1e-5, abs=1e-5), name
    preset = json.loads(path.read_text())
    assert len(preset["settings"]["wavetables"][0]["groups"][0]["components"][0]["keyframes"]) > 1


def test_dexed_syx_voice_and_bank_round_trip(configs, tmp_path):
    import dexed

    from hybridmatch.synths._dexed import read_voice_syx

    spec = load_synth(configs / "dexed.toml")
    synth, space = spec.build(), spec.space
    patches = [space.to_native(u) for u in space.sample(np.random.default_rng(8), 3)]
    path = synth.export(patches[0], tmp_path / "v.syx")
    assert path.stat().st_size == 163
    back = synth.values_from_sysex(read_voice_syx(path))
    assert back == {k: int(v) for k, v in patches[0].items()}
    bank = synth.export_bank(patches, tmp_path / "bank.syx")
    voices = dexed.Patch.load_bank(str(bank))
    assert len(voices) == 32
    for voice, values in zip(voices, patches, strict=False):
        assert synth.values_from_sysex(voice.to_sysex()) == {k: int(v) for k, v in values.items()}
    a = synth.render(patches[0], note=60, duration=0.2, seconds=0.3)
    synth._synth.load_patch(voices[0])
    b = synth._synth.render(60, 100, 0.2, 0.3)[None]
    np.testing.assert_array_equal(a, b)


def test_dexed_render_depends_on_the_patch_alone(configs):
    """Datasets are reproducible only if a render does not depend on what the engine rendered before."""
    spec = load_synth(configs / "dexed.toml")
    synth = spec.build()
    patches = [spec.space.to_native(u) for u in spec.space.sample(np.random.default_rng(3), 4)]
    first = synth.render(patches[0], note=60, duration=0.3, seconds=0.5)
    for values in patches[1:]:
        synth.render(values, note=60, duration=0.3, seconds=0.5)
    assert np.array_equal(synth.render(patches[0], note=60, duration=0.3, seconds=0.5), first)
    assert np.array_equal(spec.build().render(patches[0], note=60, duration=0.3, seconds=0.5), first)


def test_returned_vital_patches_sound_as_loaded_whatever_the_worker_rendered_before(configs):
    """Vital keeps voice state from one render to the next (results/journal.md): this
    patch (seed 0, index 5) renders differently after others. The returned patches are rendered on a
    new instance each, so their audio is the preset's sound as loaded, not the worker's history."""
    from hybridmatch.worker import RenderJob, evaluate_units, render_units

    spec = load_synth(configs / "vital-simple.toml")
    units = spec.space.sample(np.random.default_rng(0), 12)
    fresh = spec.build().render(spec.space.to_native(units[5]), note=60, duration=0.5, seconds=1.0)
    job = RenderJob(spec, fresh, 60, 0.5)
    evaluate_units(job, units[6:])  # the worker's cached instance renders other patches first
    (audio, preset), = render_units(job, units[5:6])
    np.testing.assert_array_equal(audio, fresh)
    assert preset  # the .vital bytes come along


def test_vital_fresh_renders_do_not_depend_on_the_renders_before(configs):
    """``vital-fresh`` extends ``vital-simple`` (same space, so its checkpoints apply) with a new engine
    for every render: the patch above comes out sample for sample as on a new instance, where the
    default config's cached engine does not (the control, so the history here does matter)."""
    from hybridmatch.render import RenderJob, evaluate_units

    simple, fresh_spec = load_synth(configs / "vital-simple.toml"), load_synth(configs / "vital-fresh.toml")
    assert fresh_spec.space.to_dict() == simple.space.to_dict() and fresh_spec.key != simple.key
    units = simple.space.sample(np.random.default_rng(0), 12)
    fresh = simple.build().render(simple.space.to_native(units[5]), note=60, duration=0.5, seconds=1.0)
    for spec, exact in ((fresh_spec, True), (simple, False)):
        job = RenderJob(spec, fresh, 60, 0.5)
        evaluate_units(job, units[6:])
        (ev,) = evaluate_units(job, units[5:6])
        assert (ev.objectives["mss"] < 1e-6) == exact, (spec.options, ev.objectives)


def test_a_config_extends_another_and_names_only_what_changes(configs, tmp_path):
    base = load_synth(configs / "toy.toml")
    variant = tmp_path / "toy-variant.toml"
    variant.write_text(f'extends = "{configs / "toy.toml"}"\n[render]\nrelease = 0.05\n')
    spec = load_synth(variant)
    assert spec.space.to_dict() == base.space.to_dict() and spec.backend == base.backend
    assert spec.render["release"] == 0.05 and {k: v for k, v in spec.render.items() if k != "release"} == {
        k: v for k, v in base.render.items() if k != "release"}
    loop = tmp_path / "loop.toml"
    loop.write_text('extends = "loop"\n')
    with pytest.raises(ConfigError, match="loops"):
        load_synth(loop)
    orphan = tmp_path / "orphan.toml"
    orphan.write_text('extends = "nowhere"\n')
    with pytest.raises(ConfigError, match="not found"):
        load_synth(orphan)
