from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hybridmatch.catalog import load_synth
from hybridmatch.errors import ConfigError
from hybridmatch.ml import CHECKPOINT_DIR, FlowData, ModelConfig, build_dataset, load_checkpoint
from hybridmatch.ml.dataset import _render_features
from hybridmatch.ml.features import N_FRAMES, N_MELS, Augment, level_db, logmel
from hybridmatch.ml.model import Flow, Param2Tok, Regressor, ot_pairing
from hybridmatch.ml.train import train
from hybridmatch.sampling import sample_patch
from tests.conftest import ROOT

SHIPPED = sorted(CHECKPOINT_DIR.glob("*.pt"))


def _config_of(path: Path) -> str:
    return path.stem.removesuffix("-regress").removesuffix("-surrogate")


def _shards(root: Path) -> dict[str, np.ndarray]:
    return {p.name: np.load(p) for p in sorted(root.glob("shard_*.npy"))}


def test_dataset_is_sharded_resumable_and_deterministic(toy_spec, tmp_path):
    full = tmp_path / "full"
    stats = build_dataset(toy_spec, n=40, out=full, workers=1, seed=5, shard=16)
    assert stats["n"] == 40 and len(FlowData(full)) == 40
    assert stats["rejected"] == 0 and stats["renders_this_run"] == 40  # nothing rendered only to be thrown away
    arrays = _shards(full)
    assert arrays["shard_00000.mel.npy"].dtype == np.float16 and arrays["shard_00000.mel.npy"].shape == (16, N_MELS, N_FRAMES)
    assert arrays["shard_00002.units.npy"].shape == (8, toy_spec.space.dim)
    # a run killed after two shards: the third is missing; resuming rebuilds exactly what was lost
    for p in full.glob("shard_00002*"):
        p.unlink()
    build_dataset(toy_spec, n=40, out=full, workers=2, seed=5, shard=16)
    for name, arr in _shards(full).items():
        np.testing.assert_array_equal(arr, arrays[name], err_msg=name)
    units, mel, cond = FlowData(full).batch(np.array([39, 0, 17]))
    assert units.shape == (3, toy_spec.space.dim) and mel.shape == (3, N_MELS, N_FRAMES) and cond.shape == (3, 3)
    np.testing.assert_array_equal(units[1], arrays["shard_00000.units.npy"][0])
    # the third column is the clip's level: that of the patch rendered again at its note and length
    synth, release = toy_spec.build(), float(toy_spec.render.get("release", 0.5))
    again = synth.render(toy_spec.space.to_native(units[1].astype(np.float64)), note=int(cond[1, 0]), duration=float(cond[1, 1]),
                         seconds=float(cond[1, 1]) + release)
    assert cond[1, 2] == pytest.approx(level_db(np.atleast_2d(again), toy_spec.sample_rate), abs=1e-3) and -60 < cond[1, 2] < 0
    with pytest.raises(ConfigError, match="other settings"):
        build_dataset(toy_spec, n=40, out=full, workers=1, seed=6, shard=16)


def test_near_silent_renders_are_rejected(toy_spec):
    space = toy_spec.space
    loud = space.default_unit()
    quiet = loud.copy()
    for i in (1, 2, 3):
        quiet[space.index[f"osc{i}_amp"]] = space.params[space.index[f"osc{i}_amp"]].to_unit(0.0005)
    feats, _ = _render_features(toy_spec, np.stack([loud, quiet]), np.array([[60, 0.5], [60, 0.5]]), 0, None, -55.0)
    assert feats[0] is not None and feats[1] is None


def test_augmentation_changes_the_features_but_not_their_shape(toy_spec):
    audio, _ = sample_patch(toy_spec, seed=1, note=60, duration=0.5, seconds=0.6)
    clean = logmel(audio, toy_spec.sample_rate)
    noisy = logmel(Augment(p=1.0)(audio, toy_spec.sample_rate, np.random.default_rng(0)), toy_spec.sample_rate)
    assert noisy.shape == clean.shape and noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert np.abs(noisy - clean).mean() > 0.01


def test_ot_pairing_is_a_permutation_that_shortens_paths():
    gen = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(32, 5, generator=gen), torch.randn(32, 5, generator=gen) + 2.0
    paired = ot_pairing(x0, x1)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, x0.tolist()))
    assert (paired - x1).pow(2).sum() < (x0 - x1).pow(2).sum()


def test_param2tok_starts_near_permutation_invariant():
    torch.manual_seed(0)
    p2t = Param2Tok(dim=9, tokens=4, d_token=8, d_model=16)
    x = torch.randn(3, 9)
    swapped = x[:, [3, 4, 5, 0, 1, 2, 6, 7, 8]]  # oscillators 1 and 2 exchanged
    a, b = p2t.to_tokens(x), p2t.to_tokens(swapped)
    assert (a - b).abs().max() < 1e-2 * a.abs().max()
    p2t.assign.data = torch.eye(4, 9)  # once the assignment is sparse, the swap matters
    assert (p2t.to_tokens(x) - p2t.to_tokens(swapped)).abs().max() > 0.1 * p2t.to_tokens(x).abs().max()


def _bimodal_batch(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    sign = torch.where(torch.rand(n, 1, generator=gen) < 0.5, -1.0, 1.0)
    x1 = torch.cat([0.8 * sign, 0.05 * torch.randn(n, 1, generator=gen)], dim=1)
    return x1, torch.zeros(n, N_MELS, N_FRAMES), torch.zeros(n, 2)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlp", "dit"])
def test_the_flow_keeps_both_modes_where_regression_averages(kind):
    """Two equally good answers (+0.8 and -0.8): the flow samples both, regression predicts ~0."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    cfg = ModelConfig(kind=kind, dim=2, cond_dim=16, d_model=32, layers=2, heads=2, tokens=2, d_token=8, hidden=64, assign_l1=0.0)
    flow, reg = Flow(cfg), Regressor(ModelConfig(kind="regress", dim=2, cond_dim=16, hidden=64))
    for model in (flow, reg):
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(250):
            loss, _ = model.loss(*_bimodal_batch(64, gen))
            opt.zero_grad()
            loss.backward()
            opt.step()
    flow.eval()
    samples = flow.sample(torch.zeros(1, N_MELS, N_FRAMES), torch.zeros(1, 2), 200, guidance=1.0, generator=gen)[:, 0]
    assert (samples > 0.4).float().mean() > 0.25 and (samples < -0.4).float().mean() > 0.25
    assert (samples.abs() < 0.3).float().mean() < 0.3  # a collapsed (averaging) model puts ~all mass here
    assert abs(float(reg.sample(torch.zeros(1, N_MELS, N_FRAMES), torch.zeros(1, 2))[0, 0])) < 0.3


def test_train_writes_a_checkpoint_that_resumes_and_samples(toy_spec, tmp_path):
    data = tmp_path / "data"
    build_dataset(toy_spec, n=48, out=data, workers=1, seed=0, shard=48)
    out = tmp_path / "m.pt"
    small = {"d_model": 32, "layers": 1, "tokens": 4, "cond_dim": 32}
    first = train(data, out, toy_spec, steps=6, batch=16, workers=1, eval_items=2, eval_n=2, checkpoint_every=3, quiet=True, model_options=small)
    assert first["steps"] == 6 and out.exists() and out.with_name("m.pt.state").exists()
    assert set(first["held_out_eval"]) >= {"model_best", "prior_best", "items"}
    again = train(data, out, toy_spec, steps=6, batch=16, workers=1, eval_items=2, eval_n=2, quiet=True, model_options=small)
    assert again["wall_s"] == first["wall_s"]  # resumed at step 6: nothing left to train
    more = train(data, out, toy_spec, steps=9, batch=16, workers=1, eval_items=2, eval_n=2, quiet=True, model_options=small)
    assert more["steps"] == 9 and more["wall_s"] > first["wall_s"]
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 9
    ckpt = load_checkpoint(out, toy_spec.space)
    audio, _ = sample_patch(toy_spec, seed=2, note=60, duration=0.5, seconds=0.6)
    units = ckpt.propose(audio, toy_spec.sample_rate, 60, 0.5, 5, seed=0)
    assert units.shape == (5, toy_spec.space.dim)
    with pytest.raises(ConfigError, match="another run"):
        train(data, out, toy_spec, steps=12, batch=16, workers=1, quiet=True, model_options={**small, "layers": 2})

    # `hybridmatch evaluate` scores guidance weights side by side on the same held-out items and the
    # same prior samples, so the prior columns agree row for row.
    from click.testing import CliRunner

    from hybridmatch.cli import main

    args = ["evaluate", str(out), "--data", str(data), "--synth", "toy", "--config", "toy", "--items", "2", "--n", "2", "--workers", "1"]
    result = CliRunner().invoke(main, [*args, "--guidance", "1,3"])
    assert result.exit_code == 0, result.output
    rows = [line.split("|")[1:-1] for line in result.output.splitlines() if line.startswith("| 1 ") or line.startswith("| 3 ")]
    assert len(rows) == 2 and rows[0][2] == rows[1][2] and rows[0][4] == rows[1][4]
    bad = CliRunner().invoke(main, [*args, "--guidance", "two"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1


def test_a_level_conditioned_flow_hears_the_level_and_a_blind_one_does_not(toy_spec, tmp_path):
    """``train --level``: the clip's RMS level is a conditioning scalar, so the same sound 20 dB quieter
    gets other samples; without it the features are level-free and the samples are the same. A
    dataset made before the level was stored is refused for --level with one clear error."""
    data = tmp_path / "data"
    build_dataset(toy_spec, n=32, out=data, workers=1, seed=0, shard=32)
    audio, _ = sample_patch(toy_spec, seed=2, note=60, duration=0.5, seconds=0.6)
    small = {"layers": 1, "cond_dim": 32, "hidden": 32}
    moved = {}
    for level in (False, True):
        out = tmp_path / f"m-{level}.pt"
        train(data, out, toy_spec, kind="mlp", steps=30, batch=16, lr=1e-2, workers=1, eval_items=1, eval_n=1, quiet=True,
              model_options={**small, "scalars": 3 if level else 2})
        ckpt = load_checkpoint(out, toy_spec.space)
        loud, quiet = (ckpt.propose(a, toy_spec.sample_rate, 60, 0.5, 8, seed=0) for a in (audio, audio * 0.1))
        moved[level] = float(np.abs(loud - quiet).max())
    assert moved[False] < 1e-5 and moved[True] > 1e-3, moved  # measured: 6e-8 and 0.017
    cond = data / "shard_00000.cond.npy"
    np.save(cond, np.load(cond)[:, :2])
    with pytest.raises(ConfigError, match="does not record the clip level"):
        train(data, tmp_path / "old.pt", toy_spec, kind="mlp", steps=2, quiet=True, model_options={**small, "scalars": 3})


def test_a_surrogate_trains_on_clean_renders_and_ranks_a_flows_samples(toy_spec, tmp_path):
    """``train --model surrogate`` learns patch → log-mel and level; a ``cnf`` proposer with
    ``surrogate`` draws ``oversample`` times as many samples and returns the nearest, nearest first;
    the options are checked; an augmented dataset is refused."""
    from hybridmatch.ml.proposer import check_options, propose_from_checkpoint
    from hybridmatch.render import RenderJob

    data = tmp_path / "data"
    build_dataset(toy_spec, n=48, out=data, workers=1, seed=0, shard=48)
    small = {"layers": 1, "cond_dim": 32, "hidden": 32}
    flow, critic = tmp_path / "flow.pt", tmp_path / "critic.pt"
    train(data, flow, toy_spec, kind="mlp", steps=4, batch=16, workers=1, eval_items=1, eval_n=1, quiet=True, model_options=small)
    first = train(data, critic, toy_spec, kind="surrogate", steps=200, batch=16, lr=3e-3, workers=1, eval_items=1, eval_n=2, quiet=True,
                  model_options={"hidden": 32, "layers": 1})
    assert first["history"][0]["mel"] > first["history"][-1]["mel"]  # it learns
    assert {"spearman", "model_best", "prior_best", "pool"} <= set(first["held_out_eval"])
    ckpt = load_checkpoint(critic, toy_spec.space)
    assert ckpt.config.scalars == 3
    with pytest.raises(ConfigError, match="does not propose"):
        ckpt.propose(np.zeros((1, 4000), np.float32), toy_spec.sample_rate, 60, 0.5, 2, seed=0)

    audio, _ = sample_patch(toy_spec, seed=2, note=60, duration=0.5, seconds=0.6)
    job = RenderJob(toy_spec, np.atleast_2d(audio).astype(np.float32), 60, 0.5)
    options = {"checkpoint": str(flow), "surrogate": str(critic), "oversample": 4}
    picked = propose_from_checkpoint("cnf", toy_spec.space, 5, np.random.default_rng(3), job=job, **options)
    drawn = propose_from_checkpoint("cnf", toy_spec.space, 20, np.random.default_rng(3), job=job, checkpoint=str(flow))
    scores = ckpt.score(audio, toy_spec.sample_rate, 60, 0.5, drawn)
    np.testing.assert_array_equal(picked, drawn[np.argsort(scores, kind="stable")[:5]])  # the 5 nearest of 20, nearest first
    check_options("cnf", options)
    for bad, why in (({"oversample": 4}, "needs a surrogate"), ({"surrogate": "x.pt", "oversample": 0}, "whole number"),
                     ({"surrogate": 1}, "true .* or a path")):
        with pytest.raises(ConfigError, match=why):
            check_options("cnf", bad)
    with pytest.raises(ConfigError, match="nothing to rank"):
        check_options("regress", {"surrogate": True})
    from hybridmatch.search import OptimizerSpec, ProposerSpec, Strategy

    with pytest.raises(ConfigError, match="no surrogate checkpoint for config 'toy'"):  # a surrogate that is not there: refused before any render
        Strategy("s", OptimizerSpec("none"), ProposerSpec("cnf", options={"surrogate": str(tmp_path / "none.pt")})).check(toy_spec.space)

    # a job records the surrogate with the flow: a retrained surrogate is another proposer
    from hybridmatch.identity import checkpoint_digest

    def digest(**opts: str) -> str | None:
        return checkpoint_digest(Strategy("s", OptimizerSpec("none"), ProposerSpec("cnf", options={"checkpoint": str(flow), **opts})), toy_spec.space)

    ranked = digest(surrogate=str(critic))
    assert ranked and ranked.startswith(f"{digest()}+")
    train(data, critic, toy_spec, kind="surrogate", steps=201, batch=16, workers=1, eval_items=1, eval_n=1, quiet=True, model_options={"hidden": 32, "layers": 1})
    assert digest(surrogate=str(critic)) != ranked

    augmented = tmp_path / "augmented"
    build_dataset(toy_spec, n=8, out=augmented, workers=1, seed=0, shard=8, augment=Augment())
    with pytest.raises(ConfigError, match="without"):
        train(augmented, tmp_path / "x.pt", toy_spec, kind="surrogate", steps=1, quiet=True)


def test_a_checkpoint_for_another_space_is_refused(configs, tmp_path):
    if not SHIPPED:
        pytest.skip("no shipped checkpoints")
    other = load_synth(configs / ("dexed.toml" if _config_of(SHIPPED[0]) != "dexed" else "toy.toml")).space
    with pytest.raises(ConfigError, match="another parameter space"):
        load_checkpoint(SHIPPED[0], other)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a hybridmatch checkpoint"):
        load_checkpoint(bad)


def test_every_config_with_a_cnf_strategy_default_has_a_checkpoint():
    for config in ("vital-simple", "dexed", "toy"):
        assert (CHECKPOINT_DIR / f"{config}.pt").exists(), config
        assert (CHECKPOINT_DIR / f"{config}-regress.pt").exists(), config


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_checkpoint_loads_and_samples(path, configs):
    """Shipped weights always match the code: load with the current config, sample, decode."""
    assert path.stat().st_size < 25e6
    spec = load_synth(configs / f"{_config_of(path)}.toml")
    ckpt = load_checkpoint(path, spec.space)
    audio, _ = sample_patch(spec, seed=11, note=60, duration=0.5, seconds=1.0)
    if ckpt.kind == "surrogate":  # it ranks patches: a render's own patch ranks near the top of 64 (chance: 31 above it)
        above = []
        for seed in range(8):
            audio, native = sample_patch(spec, seed=seed, note=60, duration=0.5, seconds=1.0)
            units = np.vstack([spec.space.to_unit(native), spec.space.sample(np.random.default_rng(seed + 100), 63)])
            scores = ckpt.score(audio, spec.sample_rate, 60, 0.5, units)
            assert scores.shape == (64,) and np.all(np.isfinite(scores))
            above.append(int((scores[1:] < scores[0]).sum()))
        assert np.median(above) < 16, above  # dexed-surrogate.pt: [3, 9, 58, 2, 9, 49, 8, 5]
        assert (ROOT / "results" / "training.md").read_text().count(path.name) >= 1
        return
    units = ckpt.propose(audio, spec.sample_rate, 60, 0.5, 64, seed=0)
    want = 1 if ckpt.kind == "regress" else 64
    assert units.shape == (want, spec.space.dim)
    np.testing.assert_array_equal(units, spec.space.snap(units))  # discrete parameters decode to real choices
    assert ckpt.info["held_out_eval"]["items"] > 0 and ckpt.info["data"]["n"] > 0
    if ckpt.kind != "regress":
        assert len({tuple(u) for u in units.round(6)}) > 32  # a distribution, not one point
    assert (ROOT / "results" / "training.md").read_text().count(path.name) >= 1


def test_training_md_is_the_report_of_the_shipped_checkpoints(tmp_path):
    """results/training.md is regenerated whenever a checkpoint is replaced; hardware comes from the record or its .json."""
    from hybridmatch.ml.checkpoint import checkpoint_report

    assert checkpoint_report(SHIPPED) == (ROOT / "results" / "training.md").read_text()
    copy = tmp_path / "copy.pt"
    copy.write_bytes(SHIPPED[0].read_bytes())
    recorded = load_checkpoint(SHIPPED[0]).info.get("hardware")
    assert f"| {recorded or '?'} |" in checkpoint_report([copy])
    copy.with_suffix(".json").write_text('{"hardware": "a test machine"}')
    assert f"| {recorded or 'a test machine'} |" in checkpoint_report([copy])


class _RunsCode:
    """Unpickling this calls ``Path.touch`` on a marker: what a hostile ``.pt`` or ``.state`` file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_pickled_object_in_a_checkpoint_or_training_state_is_refused_and_never_run(toy_spec, tmp_path):
    """Checkpoints and ``<out>.state`` are read with ``weights_only=True``: a file that holds a pickled
    object is refused with one line, and the object's code never runs."""
    marker = tmp_path / "ran"
    hostile = tmp_path / "hostile.pt"
    torch.save({"format": 1, "payload": _RunsCode(marker)}, hostile)
    with pytest.raises(ConfigError, match="only plain tensors and containers are loaded"):
        load_checkpoint(hostile)
    data = tmp_path / "data"
    build_dataset(toy_spec, n=16, out=data, workers=1, seed=0, shard=16)
    out = tmp_path / "m.pt"
    torch.save({"config": {}, "payload": _RunsCode(marker)}, out.with_name("m.pt.state"))
    with pytest.raises(ConfigError, match="m.pt.state is not a hybridmatch checkpoint or training state"):
        train(data, out, toy_spec, steps=2, batch=8, workers=1, quiet=True, model_options={"hidden": 32, "layers": 1}, kind="mlp")
    assert not marker.exists()
    # the same through the CLI: one line, exit 2
    from click.testing import CliRunner

    from hybridmatch.cli import main

    result = CliRunner().invoke(main, ["checkpoints", str(hostile)])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0 and "hybridmatch: error:" in result.output
    assert not marker.exists()


def test_a_config_that_plays_another_configs_voice_uses_its_checkpoints_and_no_other_does(configs):
    """The Dexed VST3 config searches the dexed config's voice fields: the dexed flow and surrogate
    serve it. A config that only looks alike (another name and fixed table, no voice_of) is refused."""
    from hybridmatch.ml.proposer import checkpoint_path, load_for
    from hybridmatch.space import ParamSpace

    vst3 = load_synth(configs / "dexed-vst3.toml").space
    assert checkpoint_path(vst3, "cnf") == CHECKPOINT_DIR / "dexed.pt"
    assert checkpoint_path(vst3, "surrogate") == CHECKPOINT_DIR / "dexed-surrogate.pt"
    for kind in ("cnf", "surrogate"):
        assert load_for(vst3, kind) is not None
    lookalike = ParamSpace.from_dict({**vst3.to_dict(), "meta": {}}, name="dexed")  # dexed's name, the plugin's fixed controls
    with pytest.raises(ConfigError, match="another parameter space"):
        load_for(lookalike, "cnf")
