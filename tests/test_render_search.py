from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hybridmatch.objectives import PENALTY
from hybridmatch.render import RenderJob, RenderPool, evaluate_units
from hybridmatch.sampling import sample_patch
from hybridmatch.search import (
    OPTIMIZERS,
    Archive,
    OptimizerSpec,
    ProposerSpec,
    Strategy,
    load_strategy,
    pareto_ranks,
    search,
    select_recipes,
)
from hybridmatch.space import ParamSpace
from hybridmatch.synths import SynthSpec
from tests.conftest import ROOT

STRATEGIES = sorted(glob.glob(str(ROOT / "strategies" / "*.toml")))


@pytest.fixture(scope="module")
def toy_job(toy_spec):
    audio, _ = sample_patch(toy_spec, seed=3, note=60, duration=0.25, seconds=0.3)
    return RenderJob(toy_spec, audio, 60, 0.25)


def test_pool_matches_sequential_in_order(toy_job):
    units = toy_job.spec.space.sample(np.random.default_rng(0), 6)
    seq = evaluate_units(toy_job, units)
    with RenderPool(2) as pool:
        par = pool.evaluate(toy_job, units)
    assert [e.loss for e in par] == pytest.approx([e.loss for e in seq])
    assert all(e.fingerprint.shape == (48,) for e in par)


def _memmapping_folders() -> set[str]:
    """joblib's temporary folders of this process, in shared memory or the temporary directory."""
    roots = ["/dev/shm", tempfile.gettempdir()]
    return {f for root in roots for f in glob.glob(f"{root}/joblib_memmapping_folder_{os.getpid()}_*")}


def test_a_pool_leaves_one_temporary_folder_however_many_dispatches(toy_job):
    units = toy_job.spec.space.sample(np.random.default_rng(0), 4)
    before = _memmapping_folders()
    with RenderPool(2) as pool:
        for _ in range(4):
            pool.evaluate(toy_job, units)
        with pool.stream(toy_job) as stream:
            for unit in units:
                stream.submit(unit)
            assert all(stream.next().error is None for _ in units)
    assert len(_memmapping_folders() - before) <= 1


def _job_for(backend: str, toy_job: RenderJob) -> RenderJob:
    return RenderJob(SynthSpec(backend, toy_job.spec.space), toy_job.target, 60, 0.25)


def test_a_raising_render_is_penalized_not_fatal(toy_job):
    space = toy_job.spec.space
    units = np.tile(space.default_unit(), (3, 1))
    units[1, space.index["osc1_amp"]] = 0.95
    evals = evaluate_units(_job_for("tests._crashy:RaisingToy", toy_job), units)
    assert evals[1].error and "synthetic" in evals[1].error and evals[1].objectives["mss"] == PENALTY["mss"]
    assert evals[0].error is None and evals[2].error is None


@pytest.mark.slow
def test_a_dying_worker_is_replaced_and_the_batch_completes(toy_job):
    space = toy_job.spec.space
    units = np.tile(space.default_unit(), (6, 1))
    units[2, space.index["osc1_amp"]] = 0.95
    job = _job_for("tests._crashy:CrashingToy", toy_job)
    with RenderPool(2) as pool:
        evals = pool.evaluate(job, units)
        assert evals[2].error and "worker died" in evals[2].error
        assert all(e.error is None for i, e in enumerate(evals) if i != 2)
        again = pool.evaluate(job, units[:2])  # the pool still works afterwards
    assert all(e.error is None for e in again)


def test_pareto_ranks_hand_case():
    pts = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [6, 6], [2, 2]])
    assert pareto_ranks(pts).tolist() == [0, 0, 0, 1, 2, 0]


@pytest.mark.parametrize("path", STRATEGIES, ids=[Path(p).stem for p in STRATEGIES])
def test_strategy_contract(path, toy_job, tmp_path):
    """Every shipped strategy loads, spends exactly its budget, archives every render and is seeded."""
    strategy = load_strategy(path)
    pool = RenderPool(1, backend="sequential")
    runs = []
    for _ in range(2):
        archive = Archive(tmp_path / f"a{len(runs)}.jsonl")
        result = search(toy_job, strategy, pool, archive, budget=16, seed=4, batch=4)
        archive.close()
        assert not result.interrupted and len(archive) == 16
        assert len(Archive.load(tmp_path / f"a{len(runs)}.jsonl")) == 16
        runs.append(archive.losses)
    np.testing.assert_array_equal(runs[0], runs[1])
    units = np.array([e.unit for e in archive.entries])
    assert units.min() >= 0 and units.max() <= 1


def test_a_seed_gives_the_same_search_on_one_or_two_workers(toy_job):
    """The ask/tell round size does not follow the worker count (up to ROUND workers), so a run is
    reproducible on another machine; the archives match render for render."""
    strategy = load_strategy(ROOT / "strategies" / "cnf-cma.toml")  # several modes: round-robin asks
    archives = []
    for workers in (1, 2):
        archive = Archive(None)
        with RenderPool(workers) as pool:
            search(toy_job, strategy, pool, archive, budget=strategy.proposer.n + 96, seed=7)
        archives.append(archive)
    # the same candidates; the losses agree to float noise (BLAS threads differ in and out of workers)
    np.testing.assert_array_equal([e.unit for e in archives[0].entries], [e.unit for e in archives[1].entries])
    np.testing.assert_allclose(archives[0].losses, archives[1].losses, rtol=1e-6)


def test_a_raced_search_gives_the_rest_of_the_budget_to_one_mode(toy_job):
    """With ``race`` = r, modes take turns until each has spent r renders; after that every render
    goes to one mode. Without it the modes keep sharing."""
    import dataclasses

    cnf_cma = load_strategy(ROOT / "strategies" / "cnf-cma.toml")
    base = dataclasses.replace(cnf_cma, proposer=dataclasses.replace(cnf_cma.proposer, name="random"))  # no checkpoint for the toy synth
    n, modes = base.proposer.n, base.optimizer.modes
    spent = {}
    for race in (0, 8):
        archive = Archive(None)
        search(toy_job, dataclasses.replace(base, optimizer=dataclasses.replace(base.optimizer, race=race)), RenderPool(1, backend="sequential"), archive, budget=n + 64, seed=2, batch=4)
        origins = archive.origins[n:]
        spent[race] = sorted(origins.count(f"cma:{m}") for m in range(modes))
        if race:
            assert all(origins[: 8 * modes].count(f"cma:{m}") == 8 for m in range(modes))
            assert len(set(origins[8 * modes :])) == 1
    assert spent[0] in ([21, 21, 22], [21, 22, 22])
    assert spent[8] == [8, 8, 64 - 16]


def test_the_race_goes_on_with_the_mode_that_is_best_so_far():
    from hybridmatch.search._match import _Race

    race = _Race(3, 2, [0.9, np.inf, 0.5])  # seed losses: mode 2's cluster starts best
    assert race.next(6) == [0, 1, 2, 0, 1, 2]
    for mode, loss in [(0, 0.8), (1, 0.4), (2, 0.6), (0, 0.7), (1, 0.45), (2, 0.55)]:
        race.tell(mode, loss)
    assert race.next(3) == [1, 1, 1]  # mode 1's 0.4 beats mode 2's seed 0.5
    assert _Race(3, 0, [0.9, 0.1, 0.5]).next(7) == [0, 1, 2, 0, 1, 2, 0]  # no race: turns forever


def test_optimizer_registry_covers_the_issue_list():
    assert {"cma", "ga", "hillclimb", "de", "random", "ngopt"} <= set(OPTIMIZERS)


def test_cma_recovers_a_one_oscillator_toy_patch(tmp_path):
    from hybridmatch.space import ParamSpace

    space = ParamSpace.from_dict({"param": [
        {"name": "osc1_freq", "kind": "continuous", "low": 100.0, "high": 1000.0, "scale": "log"},
        {"name": "osc1_amp", "kind": "continuous", "low": 0.1, "high": 1.0},
        {"name": "osc1_shape", "kind": "continuous"}]})
    spec = SynthSpec("toy", space)
    true = {"osc1_freq": 330.0, "osc1_amp": 0.7, "osc1_shape": 0.8}
    audio = spec.build().render(true, note=60, duration=0.3, seconds=0.3)
    job = RenderJob(spec, audio, 60, 0.3)
    archive = Archive(None)
    search(job, Strategy("cma", OptimizerSpec("cma", options={"popsize": 8})), RenderPool(1, backend="sequential"), archive, budget=200, seed=0, batch=8)
    best = space.to_native(archive.best().unit)
    assert best["osc1_freq"] == pytest.approx(330.0, rel=0.02)
    assert archive.best().objectives["mss"] < 2.0


def test_recipes_are_never_near_each_other_and_are_ranked_by_loss(toy_job):
    space = toy_job.spec.space
    units = space.sample(np.random.default_rng(1), 12)
    units = np.concatenate([units, units[:4] + 1e-4, space.orbit(units[5])[1:3]])
    evals = evaluate_units(toy_job, np.clip(units, 0, 1))
    chosen = select_recipes(evals, space, keep=8)
    assert 4 <= len(chosen) <= 8
    assert [evals[i].loss for i in chosen] == sorted(evals[i].loss for i in chosen)
    assert chosen[0] == int(np.argmin([e.loss for e in evals]))  # recipe #1 is the best patch found
    for a, i in enumerate(chosen):
        for j in chosen[a + 1 :]:
            assert space.recipe_distance(evals[i].unit, evals[j].unit) >= 0.15
            assert np.sqrt(np.mean((evals[i].fingerprint - evals[j].fingerprint) ** 2)) >= 0.15


def test_each_recipe_is_the_best_patch_of_its_own():
    """Patches that differ only in a slight move, or only in a knob that makes no audible difference,
    belong to the better one's recipe; a patch built differently and sounding different is a new
    one, even when it scores worse than the near-copies."""
    from hybridmatch.render import Evaluation

    space = ParamSpace.from_dict({"param": [{"name": f"k{i}", "kind": "continuous"} for i in range(4)]
                                  + [{"name": "wave", "kind": "choice", "values": ["sine", "saw", "square"]}]})
    rng = np.random.default_rng(0)
    base, other = rng.normal(size=48), rng.normal(size=48)

    def ev(unit: list[float], loss: float, sound: np.ndarray) -> Evaluation:
        return Evaluation(unit=np.array(unit), objectives={"mss": loss}, loss=loss, fingerprint=sound)

    evals = [ev([0.5, 0.5, 0.5, 0.5, 0.5], 1.0, base),  # the best
             ev([0.52, 0.5, 0.5, 0.5, 0.5], 1.1, base + 0.3),  # a slight move: the same recipe
             ev([0.5, 0.5, 0.5, 0.5, 0.83], 1.2, other),  # another waveform alone: 0.45 apart, a new recipe
             ev([0.9, 0.1, 0.9, 0.1, 0.5], 1.3, base + 0.01),  # far in knobs, same sound: the best one's recipe
             ev([0.5, 0.5, 0.5, 0.5, 0.83], 2.0, other)]  # a worse copy of the second recipe
    assert select_recipes(evals, space, keep=8) == [0, 2]
    assert select_recipes(evals, space, keep=8, among=[2, 3, 4]) == [2, 3]  # without the best, the knob-only copy stands alone


def test_a_recipes_differences_are_told_against_the_first_with_its_slots_lined_up(toy_spec):
    """A recipe that is #1 with two oscillators swapped and one of them retuned differs from #1 by
    that one frequency, named as the recipe's own parameter and as #1's that it plays the part of."""
    from hybridmatch.search import recipe_diff

    space = toy_spec.space
    first = space.sample(np.random.default_rng(0), 1)[0]
    other = space.permute(first, "oscillators", [1, 0, 2])
    assert recipe_diff(space, other, first) == {"reordered": True, "choices": [], "moved": []}
    other[space.index["osc2_freq"]] = min(1.0, other[space.index["osc2_freq"]] + 0.3)
    (moved,) = recipe_diff(space, other, first)["moved"]
    assert moved["param"] == "osc2_freq" and moved["against"] == "osc1_freq"
    assert moved["this"] == pytest.approx(space.to_native(other)["osc2_freq"]) and moved["first"] == pytest.approx(space.to_native(first)["osc1_freq"])
    wave = ParamSpace.from_dict({"param": [{"name": "cut", "kind": "continuous", "low": 20.0, "high": 20000.0, "scale": "log"},
                                           {"name": "wave", "kind": "choice", "values": ["sine", "saw", "square"]}]})
    diff = recipe_diff(wave, wave.to_unit({"cut": 1000.0, "wave": "square"}), wave.to_unit({"cut": 1000.0, "wave": "sine"}))
    assert diff == {"reordered": False, "choices": [{"param": "wave", "first": "sine", "this": "square"}], "moved": []}


def test_the_returned_set_is_measured_as_run_returns_it(toy_job):
    """``returned_set``: the recipes' count, how many are near the first one's MSS, the MSS of the
    1st/4th/8th and the spreads. Near-copies of one patch are one recipe."""
    from hybridmatch.search import returned_set

    space = toy_job.spec.space
    units = space.sample(np.random.default_rng(1), 3)
    copies = np.clip(np.concatenate([units[:1] + 1e-4 * k for k in range(6)] + [units[1:]]), 0, 1)
    evals = evaluate_units(toy_job, copies)
    chosen = [evals[i] for i in select_recipes(evals, space, keep=8)]
    stats = returned_set(evals, space, keep=8)
    assert stats["returned"] == len(chosen) == 3
    assert stats["mss_1"] == chosen[0].objectives["mss"] and stats["mss_4"] is None and stats["mss_8"] is None
    assert stats["near_best"] == sum(e.objectives["mss"] <= 1.25 * chosen[0].objectives["mss"] for e in chosen) >= 1
    assert stats["recipe_spread"] == pytest.approx(np.mean([space.recipe_distance(chosen[a].unit, chosen[b].unit) for a, b in ((0, 1), (0, 2), (1, 2))]))
    assert stats["audio_spread"] > 0.15  # recipes are never closer than that
    one = returned_set(evals[:6], space, keep=8)  # copies only: one recipe, no spread
    assert one["returned"] == 1 and one["recipe_spread"] == 0.0 and one["audio_spread"] == 0.0


def test_the_parent_keeps_its_ctrl_c_handler(toy_job):
    """joblib runs n_jobs=1 in the calling process; the workers' SIGINT-ignore must not leak into it
    (it would also be inherited by every child, so Ctrl-C would stop nothing)."""
    import signal

    units = toy_job.spec.space.sample(np.random.default_rng(1), 2)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background shell may hand us SIG_IGN
    try:
        with RenderPool(1) as pool:
            pool.evaluate(toy_job, units)
            list(pool.map(max, [(1, 2)]))
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)


def test_refine_replaces_a_misread_held_length_and_a_resumed_run_keeps_it(toy_spec, tmp_path):
    """A target held 0.3 s, analysed as 0.45 s: the probes pick the length nearest the truth on the
    grid, every render counts against the budget, and a resumed run searches under the same choice."""
    import json

    from hybridmatch.audio import Target
    from hybridmatch.cli import run as cli_run
    from hybridmatch.engine import REFINE, run_match
    from hybridmatch.errors import ConfigError

    audio, _ = sample_patch(toy_spec, seed=5, note=60, duration=0.3, seconds=0.6)
    target = Target(audio, toy_spec.sample_rate, note=60, duration=0.45, note_source="estimated", duration_source="estimated")
    strategy = Strategy("random", OptimizerSpec("random"))
    res = run_match(target, toy_spec, strategy, budget=120, out_dir=tmp_path, pool=RenderPool(1, backend="sequential"))
    assert "Estimated note 60, held 0.45 s; 4 hypotheses rendered (24 probe renders, 18 of them outside the archive)" in (
        tmp_path / "report.html").read_text()
    analysis = res["analysis"]
    assert analysis["refined"] and not analysis["note_free"] and res["note_source"] == "estimated"  # the note only on request
    assert res["duration"] == pytest.approx(0.32) and res["duration_source"] == "refined"
    assert [h["duration"] for h in analysis["hypotheses"]] == [0.45, 0.32, 0.38, 0.54]
    assert res["renders"] == 120 and len(Archive.load(tmp_path / "archive.jsonl")) == 120 - analysis["spent"] and analysis["spent"] == 18
    assert json.loads((tmp_path / "analysis.json").read_text())["chosen"]["duration"] == pytest.approx(0.32)
    probes = Archive.load(tmp_path / "probes.jsonl")
    assert len(probes) == 24 and probes.origins[0] == "note 60, held 0.45 s" and probes.origins[-1] == "note 60, held 0.54 s"
    again = run_match(target, toy_spec, strategy, budget=120, out_dir=tmp_path, report=False,  # the same job: resumed
                      pool=RenderPool(1, backend="sequential"))
    assert again["duration"] == pytest.approx(0.32) and again["renders"] == 120

    small = run_match(target, toy_spec, strategy, budget=40, out_dir=tmp_path / "small", report=False,
                      pool=RenderPool(1, backend="sequential"))
    assert not small["analysis"]["refined"] and "budget 40" in small["analysis"]["reason"] and small["duration"] == 0.45
    given = run_match(Target(audio, toy_spec.sample_rate, note=60, duration=0.45, note_source="given", duration_source="given"),
                      toy_spec, strategy, budget=120, out_dir=tmp_path / "given", report=False, pool=RenderPool(1, backend="sequential"))
    assert not given["analysis"]["refined"] and given["duration"] == 0.45 and given["renders"] == 120
    off = run_match(target, toy_spec, strategy, budget=120, out_dir=tmp_path / "off", report=False, refine="off",
                    pool=RenderPool(1, backend="sequential"))
    assert not off["analysis"]["refined"] and off["duration"] == 0.45 and off["duration_source"] == "estimated"
    with pytest.raises(ConfigError, match="--refine must be one of"):
        run_match(target, toy_spec, strategy, budget=120, out_dir=tmp_path / "bad", refine="pitch", pool=RenderPool(1, backend="sequential"))
    assert tuple(next(p for p in cli_run.params if p.name == "refine").type.choices) == REFINE  # the CLI offers what the engine takes


@pytest.mark.parametrize("options, message", [
    ({"guidance": "strong"}, "option guidance must be a number"),
    ({"guidence": 2.0}, "unknown option 'guidence'"),
    ({"temperature": 0.5}, "unknown option 'temperature'"),
    ({"steps": 2.5}, "option steps must be a whole number"),
])
def test_a_bad_proposer_option_is_one_config_error(toy_spec, options, message):
    """A misspelt or ill-typed [proposer.options] entry fails the strategy's check, before any render."""
    from hybridmatch.errors import ConfigError

    raw = {"name": "s", "optimizer": {"name": "cma"}, "proposer": {"name": "cnf", "n": 8, "options": {"guidance": 1.0, "steps": 4}}}
    Strategy.from_dict(raw).check(toy_spec.space)
    raw["proposer"]["options"] = options
    with pytest.raises(ConfigError, match=message):
        Strategy.from_dict(raw).check(toy_spec.space)


def test_a_latent_search_walks_the_flows_noise_from_its_best_sample(toy_job):
    """``[optimizer] latent``: the proposals are the flow's own samples for the seed, and every later
    candidate is the flow's decode of a point near the best sample's noise. With a vanishing step
    the candidates decode to the best sample itself; with a real step they spread around it."""
    import dataclasses

    latent = load_strategy(ROOT / "strategies" / "cnf-latent.toml")
    n = 8
    archives = {}
    for step in (1e-7, 0.5, 0.0):
        strategy = dataclasses.replace(latent, proposer=dataclasses.replace(latent.proposer, n=n), optimizer=dataclasses.replace(latent.optimizer, latent=step))
        archives[step] = Archive(None)
        search(toy_job, strategy, RenderPool(1, backend="sequential"), archives[step], budget=n + 16, seed=3, batch=4)
    plain, tiny, wide = (np.array([e.unit for e in archives[k].entries]) for k in (0.0, 1e-7, 0.5))
    np.testing.assert_array_equal(tiny[:n], plain[:n])  # the same samples as the plain proposer's
    best = tiny[int(np.argmin(archives[1e-7].losses[:n]))]
    assert np.abs(tiny[n:] - best).max() < 1e-3
    assert np.abs(wide[n:] - best).max(axis=1).min() > 1e-2
    assert archives[0.5].origins[n:] == ["cma:latent:0"] * 16


def test_a_latent_search_decodes_its_candidates_in_groups(toy_job, monkeypatch):
    """A flow decodes a batch in about the time of one sample, so a latent search decodes
    LATENT_GROUP renders' worth of candidates per call rather than one at a time."""
    import dataclasses

    from hybridmatch.ml.checkpoint import Latent
    from hybridmatch.search._match import LATENT_GROUP

    calls = []
    decode = Latent.decode
    monkeypatch.setattr(Latent, "decode", lambda self, x0: calls.append(len(np.atleast_2d(x0))) or decode(self, x0))
    latent = load_strategy(ROOT / "strategies" / "cnf-latent.toml")
    strategy = dataclasses.replace(latent, proposer=dataclasses.replace(latent.proposer, n=8))
    archive = Archive(None)
    search(toy_job, strategy, RenderPool(1, backend="sequential"), archive, budget=8 + 16, seed=3, batch=4)
    assert len(archive) == 24 and calls[1:] == [LATENT_GROUP] * (16 // LATENT_GROUP)


@pytest.mark.parametrize("optimizer, proposer, message", [
    ({"name": "cma", "latent": -0.1}, "cnf", "latent must be a step size"),
    ({"name": "cma", "latent": 0.2, "hold": 0.8}, "cnf", "hold shapes patch-space steps"),
    ({"name": "cma", "handoff": 100}, "cnf", "unknown key 'handoff' in \\[optimizer\\]"),
    ({"name": "cma", "spread": True}, "cnf", "unknown key 'spread'"),
    ({"name": "cma", "modes": "3"}, "cnf", "modes must be a whole number >= 1"),
    ({"name": "cma", "race": 2.5}, "cnf", "race must be a whole number"),
    ({"name": "cma", "hold": 1.5}, "cnf", "hold must be a probability"),
    ({"name": "cma", "options": 3}, "cnf", "options must be a table"),
    ({"name": "cma", "screen": 0}, "cnf", "screen must be a whole number >= 1"),
    ({"name": "cma", "screen": 2.5}, "cnf", "screen must be a whole number >= 1"),
    ({"name": "annealing"}, "cnf", "name must be a registered optimizer"),
    ({"name": "none", "latent": 0.2}, "cnf", "needs proposer 'cnf' and an optimizer"),
    ({"name": "cma", "latent": 0.2}, "random", "needs proposer 'cnf' and an optimizer"),
])
def test_a_bad_optimizer_setting_is_one_config_error(optimizer, proposer, message):
    from hybridmatch.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        Strategy.from_dict({"name": "s", "optimizer": optimizer, "proposer": {"name": proposer, "n": 8}})


def test_two_distinct_optima_come_back_as_two_recipes(tmp_path):
    """A target that is half a 220 Hz sine and half an 880 Hz square, matched with one oscillator:
    each half is an optimum, and the archive holds a dense cloud of near-copies around each (what a
    search that found both leaves). ``run --keep 2`` returns the best of each cloud, not the best
    patch and one of its near-copies."""
    from hybridmatch.audio import Target
    from hybridmatch.engine import run_match
    from hybridmatch.identity import claim, job_identity
    from hybridmatch.synths._toy import oscillator

    space = ParamSpace.from_dict({"param": [{"name": "osc1_freq", "kind": "continuous", "low": 100.0, "high": 1000.0, "scale": "log"},
                                            {"name": "osc1_amp", "kind": "continuous", "low": 0.1, "high": 1.0},
                                            {"name": "osc1_shape", "kind": "continuous"}]})
    spec = SynthSpec("toy", space)
    n = int(0.5 * spec.sample_rate)
    audio = (0.5 * oscillator(220.0, 0.0, n, spec.sample_rate) + 0.5 * oscillator(880.0, 0.5, n, spec.sample_rate)).astype(np.float32)[None]
    optima = [space.to_unit({"osc1_freq": 220.0, "osc1_amp": 0.5, "osc1_shape": 0.0}), space.to_unit({"osc1_freq": 880.0, "osc1_amp": 0.5, "osc1_shape": 0.5})]
    rng = np.random.default_rng(0)
    clouds = [np.clip(o + rng.uniform(-0.06, 0.06, size=(30, 3)), 0, 1) for o in optima]
    target = Target(audio, spec.sample_rate, note=60, duration=0.5, note_source="given", duration_source="given")
    strategy = Strategy("random", OptimizerSpec("random"))
    claim(tmp_path, job_identity(target, spec, strategy, seed=0, budget=60, refine="length"))
    archive = Archive(tmp_path / "archive.jsonl")
    archive.extend(evaluate_units(RenderJob(spec, audio, 60, 0.5), np.concatenate(clouds)), origin="two clouds")
    archive.close()
    res = run_match(target, spec, strategy, budget=60, keep=2, out_dir=tmp_path, report=False, pool=RenderPool(1, backend="sequential"))
    found = sorted(c["archive_index"] // 30 for c in res["candidates"])
    assert res["recipes"] == 2 and found == [0, 1]  # one recipe from each optimum's cloud
    for c in res["candidates"]:
        cloud = slice(30 * (c["archive_index"] // 30), 30 * (c["archive_index"] // 30 + 1))
        assert c["search_loss"] == min(e.loss for e in archive.entries[cloud])  # each is the best patch of its optimum
    assert res["candidates"][1]["differs"]["moved"][0]["param"] in ("osc1_freq", "osc1_shape")


def test_run_ranks_its_returned_set_by_fresh_renders_not_by_the_searchs_scores(toy_spec, tmp_path):
    """A search whose scores were wrong (as Vital's are when a render carries the voice state of the
    renders before it): the archive claims the worst patch is the best. ``run`` renders its shortlist
    again, each on a new instance, and ranks by those scores: the impostor is not first, and every
    returned patch reports the loss of its own fresh render next to the search's."""
    from hybridmatch.audio import Target
    from hybridmatch.engine import run_match
    from hybridmatch.identity import claim, job_identity

    audio, _ = sample_patch(toy_spec, seed=5, note=60, duration=0.3, seconds=0.6)
    job = RenderJob(toy_spec, audio, 60, 0.3)
    evals = evaluate_units(job, toy_spec.space.sample(np.random.default_rng(3), 40))
    best, worst = min(range(40), key=lambda i: evals[i].loss), max(range(40), key=lambda i: evals[i].loss)
    evals[worst].objectives, evals[worst].loss = dict(evals[best].objectives), evals[best].loss - 1.0  # the lie
    target = Target(audio, toy_spec.sample_rate, note=60, duration=0.3, note_source="given", duration_source="given")
    strategy = Strategy("random", OptimizerSpec("random"))
    claim(tmp_path, job_identity(target, toy_spec, strategy, seed=0, budget=40, refine="length"))  # the folder is this job's
    archive = Archive(tmp_path / "archive.jsonl")
    archive.extend(evals, origin="random")
    archive.close()
    res = run_match(target, toy_spec, strategy, budget=40, keep=4, out_dir=tmp_path, report=False, pool=RenderPool(1, backend="sequential"))
    assert res["renders"] == 40 and res["verified"] == 4  # nothing more was searched; the keep recipes re-rendered
    ranked = [c["archive_index"] for c in res["candidates"]]
    assert ranked[0] == best  # not the impostor
    impostor = next((c for c in res["candidates"] if c["archive_index"] == worst), None)
    assert impostor is None or impostor["loss"] > impostor["search_loss"] + 1.0
    for c in res["candidates"]:
        if c["archive_index"] != worst:
            assert c["loss"] == pytest.approx(c["search_loss"], rel=1e-6)  # toy renders are exact
    # with true scores the verified set is the one the archive's own ranking picks, patch for patch
    claim(tmp_path / "honest", job_identity(target, toy_spec, strategy, seed=0, budget=40, refine="length"))
    honest = Archive(tmp_path / "honest" / "archive.jsonl")
    honest.extend(evaluate_units(job, toy_spec.space.sample(np.random.default_rng(3), 40)), origin="random")
    honest.close()
    again = run_match(target, toy_spec, strategy, budget=40, keep=4, out_dir=tmp_path / "honest", report=False,
                      pool=RenderPool(1, backend="sequential"))
    assert [c["archive_index"] for c in again["candidates"]] == select_recipes(honest.entries, toy_spec.space, keep=4)


def test_an_archives_best_is_its_first_lowest_loss_as_written_and_as_read_back(tmp_path):
    from hybridmatch.render import Evaluation

    losses = np.random.default_rng(4).choice([3.0, 1.0, 2.0, 0.5, 0.5, 4.0], size=40)
    archive = Archive(tmp_path / "a.jsonl")
    for start in range(0, 40, 7):
        archive.extend([Evaluation(np.zeros(2), {"mss": float(x)}, float(x)) for x in losses[start : start + 7]])
        assert archive.best() is archive.entries[int(np.argmin(losses[: start + 7]))]
    archive.close()
    assert Archive.load(tmp_path / "a.jsonl").best().loss == 0.5
    reopened = Archive(tmp_path / "a.jsonl", append=True)
    reopened.extend([Evaluation(np.zeros(2), {"mss": 0.1}, 0.1)])
    assert reopened.best() is reopened.entries[40]
    reopened.close()


def test_an_archive_is_read_one_line_at_a_time_and_a_cut_tail_is_repaired(toy_job, tmp_path):
    """A kill can cut the last line: reading stops before it, and reopening to append truncates it."""
    from hybridmatch.search import read_objectives

    evals = evaluate_units(toy_job, toy_job.spec.space.sample(np.random.default_rng(2), 5))
    archive = Archive(tmp_path / "a.jsonl")
    archive.extend(evals, origin="random")
    archive.close()
    whole = (tmp_path / "a.jsonl").read_bytes()
    (tmp_path / "a.jsonl").write_bytes(whole + b'{"i": 5, "unit": [0.1, ')  # the cut
    objectives = read_objectives(tmp_path / "a.jsonl", ("mss", "wmfcc"))
    assert objectives.tolist() == [[e.objectives["mss"], e.objectives["wmfcc"]] for e in evals]
    reopened = Archive(tmp_path / "a.jsonl", append=True)
    reopened.extend(evals[:1], origin="again")
    reopened.close()
    assert (tmp_path / "a.jsonl").read_bytes().startswith(whole) and len(Archive.load(tmp_path / "a.jsonl")) == 6


def test_a_proposal_only_search_draws_in_chunks(toy_job, tmp_path, monkeypatch):
    """Memory does not grow with the budget: a proposer is asked for at most DRAW patches at a time."""
    from hybridmatch.search import _match

    asked = []
    real = _match.propose

    def counting(name, space, n, rng, **context):
        asked.append(n)
        return real(name, space, n, rng, **context)

    monkeypatch.setattr(_match, "DRAW", 8)
    monkeypatch.setattr(_match, "propose", counting)
    strategy = Strategy("random-only", OptimizerSpec("none"), ProposerSpec("random", 8))
    archive = Archive(tmp_path / "a.jsonl")
    search(toy_job, strategy, RenderPool(1, backend="sequential"), archive, budget=20, seed=1, batch=4)
    archive.close()
    assert asked == [8, 8, 4] and len(archive) == 20


def test_a_deadline_ends_the_search_in_time_for_the_verify_pass(toy_job, tmp_path):
    """``run --time``: the search stops once the deadline, less the time ``reserve`` more renders take
    (at the run's own render time, shared by the workers), is reached, whatever the budget; the
    optimizers are told the budget the time left can buy."""
    import time

    from hybridmatch.errors import ConfigError
    from hybridmatch.render import Evaluation
    from hybridmatch.search import Deadline

    gone = Archive(tmp_path / "gone.jsonl")
    search(toy_job, load_strategy(ROOT / "strategies" / "cma.toml"), RenderPool(1, backend="sequential"), gone, budget=10**6, seed=1,
           batch=4, deadline=Deadline(1.0, time.perf_counter()))
    assert len(gone) == 0  # nothing starts after the deadline
    archive = Archive(None)
    archive.extend([Evaluation(np.zeros(2), {}, 1.0, render_s=0.3, score_s=0.1) for _ in range(10)])
    archive.extend([Evaluation(np.zeros(2), {}, 1.0, render_s=2.5, score_s=0.1)])  # a worker's slow first render is not typical
    soon = Deadline(60.0, time.perf_counter() + 60.0, reserve=24, workers=2, after=2.0)  # 0.2 s a render, 3x for verify: 14.4 + 2 s kept
    assert not soon.reached(archive) and Deadline(60.0, time.perf_counter() + 16.0, reserve=24, workers=2, after=2.0).reached(archive)
    assert soon.budget(archive, 10**6) == pytest.approx(11 + (60.0 - 16.4) / 0.2, abs=2) and soon.budget(archive, 50) == 50
    with pytest.raises(ConfigError, match="--time must be a positive number"):
        Deadline.start(float("nan"))


def test_a_screened_search_renders_what_the_surrogate_ranks_first(toy_job):
    """``[optimizer] screen``: of the candidates the optimizer asks for each render, the one the
    surrogate predicts nearest the target is rendered. The same seed with and without the screen
    starts from the same proposals, and the screened search's candidates are predicted nearer."""
    import dataclasses

    from hybridmatch.ml.proposer import load_surrogate

    base = Strategy.from_dict({"name": "s", "proposer": {"name": "random", "n": 8}, "optimizer": {"name": "cma", "options": {"popsize": 4}}})
    units = {}
    for k in (1, 6):
        strategy = dataclasses.replace(base, optimizer=dataclasses.replace(base.optimizer, screen=k))
        archive = Archive(None)
        search(toy_job, strategy, RenderPool(1, backend="sequential"), archive, budget=8 + 40, seed=5, batch=4)
        units[k] = np.array([e.unit for e in archive.entries])
    np.testing.assert_array_equal(units[1][:8], units[6][:8])
    score = load_surrogate(toy_job.spec.space, True).scorer(toy_job.target, toy_job.spec.sample_rate, toy_job.note, toy_job.duration)
    assert np.median(score(units[6][8:])) < np.median(score(units[1][8:]))


def test_the_screen_keeps_the_lowest_scored_of_its_asks():
    from hybridmatch.search._screen import Screen

    class Asks:
        def __init__(self) -> None:
            self.n = 0

        def ask(self) -> int:
            self.n += 1
            return self.n

    points = {1: 0.5, 2: 0.1, 3: 0.9}  # candidate -> its one coordinate
    screen = Screen(3, lambda units: np.abs(units[:, 0] - 0.15), lambda cands: np.array([[points[c]] for c in cands]))
    optimizer = Asks()
    cand, unit = screen.ask(optimizer)
    assert (cand, unit.tolist(), optimizer.n) == (2, [0.1], 3)


def test_a_screen_needs_a_surrogate_for_the_space(toy_spec):
    from hybridmatch.errors import ConfigError

    other = ParamSpace.from_dict({**toy_spec.space.to_dict(), "name": "toy-unshipped"})
    strategy = Strategy.from_dict({"name": "s", "proposer": {"name": "random", "n": 8}, "optimizer": {"name": "cma", "screen": 3}})
    with pytest.raises(ConfigError, match="no surrogate checkpoint for config 'toy-unshipped'"):
        strategy.check(other)


def test_a_folder_recorded_before_a_key_existed_resumes_and_a_changed_key_is_refused(toy_spec, tmp_path):
    """A key added to a strategy table later defaults to the behaviour before it: a job recorded
    without the key, or with it at its default, is this job; the key at another value is not."""
    import json

    from hybridmatch.audio import Target
    from hybridmatch.errors import ConfigError
    from hybridmatch.identity import claim, job_identity

    audio, _ = sample_patch(toy_spec, seed=5, note=60, duration=0.3, seconds=0.6)
    target = Target(audio, toy_spec.sample_rate, note=60, duration=0.3, note_source="given", duration_source="given")
    strategy = Strategy("cma", OptimizerSpec("cma"))
    identity = job_identity(target, toy_spec, strategy, seed=0, budget=40, refine="length")
    assert "screen" not in identity["definition"]["optimizer"] and "hold" not in identity["definition"]["optimizer"]
    for recorded in ({}, {"screen": 1, "hold": None, "race": 0, "latent": 0.0}):
        folder = tmp_path / str(len(recorded))
        old = {**identity, "definition": {**identity["definition"], "optimizer": {**identity["definition"]["optimizer"], **recorded}}}
        claim(folder, old)
        (folder / "archive.jsonl").write_text("")
        assert json.loads((folder / "job.json").read_text())["definition"]["optimizer"] == {**identity["definition"]["optimizer"], **recorded}
        assert claim(folder, identity) is True  # the same job: it resumes
    screened = job_identity(target, toy_spec, Strategy("cma", OptimizerSpec("cma", screen=2)), seed=0, budget=40, refine="length")
    with pytest.raises(ConfigError, match="definition differ"):
        claim(tmp_path / "0", screened)
