from __future__ import annotations

import pickle
import tomllib

import numpy as np
import pytest
import tomli_w

from hybridmatch.errors import ConfigError
from hybridmatch.space import ParamSpace, load_space

RAW = {
    "param": [
        {"name": "cut", "kind": "continuous", "low": 20.0, "high": 20000.0, "scale": "log"},
        {"name": "env", "kind": "continuous", "low": 0.0, "high": 2.0, "scale": "skew", "skew": 4.0},
        {"name": "semis", "kind": "integer", "low": -12, "high": 12, "prior": {"const": 0, "p": 0.75}},
        {"name": "wave", "kind": "choice", "values": ["sine", "saw", "square"]},
        {"name": "a_level", "kind": "continuous"},
        {"name": "b_level", "kind": "continuous"},
    ],
    "symmetry": [{"name": "oscs", "slots": [["a_level"], ["b_level"]]}],
}


@pytest.fixture
def space() -> ParamSpace:
    return ParamSpace.from_dict(RAW)


def test_native_round_trip_is_exact_for_discrete_and_tight_for_continuous(space):
    units = space.sample(np.random.default_rng(0), 200)
    for u in units:
        native = space.to_native(u)
        again = space.to_native(space.to_unit(native))
        assert {k: again[k] for k in ("semis", "wave")} == {k: native[k] for k in ("semis", "wave")}
        for k in ("cut", "env", "a_level", "b_level"):
            assert again[k] == pytest.approx(native[k], rel=1e-9, abs=1e-12)
        assert isinstance(native["semis"], int) and native["wave"] in ("sine", "saw", "square")
        np.testing.assert_allclose(space.to_unit(native), u, atol=1e-12)


def test_scales_hit_their_ends_and_midpoints(space):
    lo = space.to_native(np.zeros(space.dim))
    hi = space.to_native(np.ones(space.dim))
    assert (lo["cut"], hi["cut"]) == pytest.approx((20.0, 20000.0))
    assert space.to_native(np.full(space.dim, 0.5))["cut"] == pytest.approx(np.sqrt(20 * 20000))
    assert space.to_native(np.full(space.dim, 0.5))["env"] == pytest.approx(2.0 * 0.5**4)
    assert (lo["semis"], hi["semis"], lo["wave"], hi["wave"]) == (-12, 12, "sine", "square")


def test_constant_with_probability_prior(space):
    draws = space.sample(np.random.default_rng(1), 4000)
    semis = np.array([space.to_native(u)["semis"] for u in draws])
    share = np.mean(semis == 0)
    # p = 0.75 constant plus 1/25 of the uniform remainder
    assert share == pytest.approx(0.75 + 0.25 / 25, abs=0.03)


def test_sampling_is_seeded(space):
    a = space.sample(np.random.default_rng(7), 5)
    b = space.sample(np.random.default_rng(7), 5)
    c = space.sample(np.random.default_rng(8), 5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_discrete_params_stay_discrete_for_nevergrad(space):
    import nevergrad as ng

    param = space.to_nevergrad(seed=0)
    assert isinstance(param["choice3"], ng.p.Choice)
    assert sorted(param.value) == ["choice3", "num"]  # the continuous and integer coordinates are one child
    opt = ng.optimizers.registry["DiscreteOnePlusOne"](param, budget=50)
    for _ in range(30):
        cand = opt.ask()
        u = space.from_nevergrad(cand.value)
        np.testing.assert_array_equal(space.snap(u), u)  # already bin centres: no rounding noise
        opt.tell(cand, float(u.sum()))


def test_nevergrad_init_sets_the_start(space):
    u = space.snap(np.random.default_rng(3).random(space.dim))
    param = space.to_nevergrad(seed=0, init=u)
    np.testing.assert_allclose(space.from_nevergrad(param.value), u, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["cma", "ga", "hillclimb"])
def test_a_held_seed_choice_is_drawn_again(optimizer):
    """nevergrad's own reset gives a seeded 8-way choice 1.5/8 of the draws; held at 0.9 it keeps most of
    them, in the seeded optimizer's asks and in the children of told (GA, hill-climb) parents."""
    from hybridmatch.search._match import _tell_proposals
    from hybridmatch.search._optimizers import make_optimizer

    space = ParamSpace.from_dict({"param": [{"name": "x", "kind": "continuous"},
                                            {"name": "algo", "kind": "choice", "values": list("abcdefgh")}]})
    seed_unit = space.to_unit({"x": 0.5, "algo": "f"})
    share = {}
    for hold in (None, 0.9):
        param = space.to_nevergrad(seed=1, init=seed_unit, hold=hold)
        opt = make_optimizer(optimizer, param, budget=400, num_workers=1)
        held = None if hold is None else (lambda child, h=hold: space.hold_choices(child, h))
        _tell_proposals(opt, [space.nevergrad_value(seed_unit)], np.array([0.0]), held)
        drawn = []
        for _ in range(200):
            cand = opt.ask()
            drawn.append(space.to_native(space.from_nevergrad(cand.value))["algo"])
            opt.tell(cand, 1.0)
        share[hold] = drawn.count("f") / len(drawn)
    assert share[None] < 0.25 and share[0.9] > 0.65  # measured: 0.15-0.19 and 0.74-0.90


def test_hold_must_be_a_probability(space):
    from hybridmatch.search import Strategy

    with pytest.raises(ConfigError, match="hold must be"):
        space.to_nevergrad(seed=0, init=space.default_unit(), hold=1.0)
    with pytest.raises(ConfigError, match="hold must be a probability"):
        Strategy.from_dict({"name": "s", "optimizer": {"name": "cma", "hold": 2}})


def test_model_face_one_hot_round_trip(space):
    units = space.sample(np.random.default_rng(2), 50)
    x = space.to_model(units)
    assert x.shape == (50, space.model_dim()) and space.model_dim() == 5 + 3
    np.testing.assert_allclose(space.from_model(x), units, atol=1e-12)


def test_symmetry_distance_is_permutation_invariant(space):
    u = space.snap(np.random.default_rng(4).random(space.dim))
    swapped = space.permute(u, "oscs", [1, 0])
    assert swapped[space.index["a_level"]] == u[space.index["b_level"]]
    assert space.recipe_distance(u, swapped) == pytest.approx(0.0)
    assert np.sqrt(np.mean((u - swapped) ** 2)) > 0


def test_a_differing_choice_counts_one_in_the_recipe_distance():
    from hybridmatch.space import ParamSpace

    space = ParamSpace.from_dict({"param": [{"name": "cut", "kind": "continuous"},
                                            {"name": "wave", "kind": "choice", "values": ["sine", "saw", "square", "noise"]}]})
    a, b, c = (space.to_unit({"cut": 0.5, "wave": w}) for w in ("sine", "saw", "noise"))
    assert space.recipe_distance(a, b) == space.recipe_distance(a, c) == pytest.approx(np.sqrt(1 / 2))  # neighbouring bins or not
    assert space.recipe_distance(a, space.to_unit({"cut": 0.9, "wave": "sine"})) == pytest.approx(np.sqrt(0.4**2 / 2))


def test_toml_and_pickle_round_trip(space, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(space.to_dict()))
    again = load_space(path)
    assert again.to_dict() == space.to_dict()
    assert pickle.loads(pickle.dumps(space)).to_dict() == space.to_dict()
    assert tomllib.loads(path.read_text())["param"][0]["scale"] == "log"


@pytest.mark.parametrize(
    "bad",
    [
        {"param": []},
        {"param": [{"name": "x", "kind": "weird"}]},
        {"param": [{"name": "x", "kind": "continuous", "low": 1, "high": 0}]},
        {"param": [{"name": "x", "kind": "continuous", "low": 0, "high": 1, "scale": "log"}]},
        {"param": [{"name": "x", "kind": "choice", "values": ["a"]}]},
        {"param": [{"name": "x", "kind": "continuous"}, {"name": "x", "kind": "continuous"}]},
        {"param": [{"name": "x", "kind": "continuous", "prior": {"const": 2.0}}]},
        {"param": [{"name": "x", "kind": "continuous"}], "symmetry": [{"name": "s", "slots": [["x"], ["y"]]}]},
    ],
)
def test_bad_spaces_raise_config_error(bad):
    with pytest.raises(ConfigError):
        ParamSpace.from_dict(bad)


def test_shipped_configs_load_with_expected_sizes(configs):
    sizes = {p.stem: load_space(p).dim for p in configs.glob("*.toml")}
    assert 40 <= sizes["vital-simple"] <= 90
    assert sizes["vital-full"] > sizes["vital-simple"]
    assert sizes["dexed"] == 145
    dexed = load_space(configs / "dexed.toml")
    algo = dexed.params[dexed.index["algorithm"]]
    assert algo.kind == "choice" and len(algo.values) == 32
    assert dexed.params[dexed.index["op1_frequency_coarse"]].kind == "integer"


def test_cma_with_its_instance_looked_up_once_asks_what_nevergrads_cma_asks():
    """The shipped ``cma`` caches nevergrad's pycma instance instead of rebuilding a Normalizer on
    every access; on a continuous space (where that rebuild draws no random numbers) the asks are
    nevergrad's own, through restarts' checks and step updates alike."""
    import nevergrad as ng

    from hybridmatch.search._optimizers import make_optimizer

    space = ParamSpace.from_dict({"param": [{"name": f"x{i}", "kind": "continuous"} for i in range(6)]})
    runs = []
    for ours in (True, False):
        param = space.to_nevergrad(seed=4, init=space.default_unit())
        opt = make_optimizer("cma", param, budget=300, num_workers=8) if ours else ng.optimizers.ParametrizedCMA()(param, budget=300, num_workers=8)
        assert (type(opt).__name__ == "CachedCMA") is ours
        asked = []
        for _ in range(300):
            cand = opt.ask()
            unit = space.from_nevergrad(cand.value)
            opt.tell(cand, float(np.sum((unit - 0.3) ** 2)))
            asked.append(unit)
        runs.append(np.array(asked))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert np.sum((runs[0][-1] - 0.3) ** 2) < np.sum((runs[0][0] - 0.3) ** 2)  # it converges, so updates happened


@pytest.mark.parametrize("optimizer", ["cma", "ga", "hillclimb"])
def test_bin_choices_are_drawn_and_learned_as_nevergrads_choices(optimizer):
    """``bin_choice`` drops nevergrad's per-option parameters but keeps its weights: an optimizer over
    it asks, value for value, what it asks over ``ng.p.Choice``, held start and crossover included."""
    import nevergrad as ng

    from hybridmatch._ngchoice import bin_choice
    from hybridmatch.search._optimizers import make_optimizer

    space = ParamSpace.from_dict({"param": [{"name": "x", "kind": "continuous"},
                                            {"name": "algo", "kind": "choice", "values": list(range(32))},
                                            {"name": "w1", "kind": "choice", "values": list("abcd")},
                                            {"name": "w2", "kind": "choice", "values": list("abcd")}]})
    start = space.to_unit({"x": 0.2, "algo": 7, "w1": "b", "w2": "d"})
    runs = []
    for choice in (bin_choice, lambda n, reps: ng.p.Choice(list(range(n)), repetitions=reps)):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("hybridmatch.space.bin_choice", choice)
            param = space.to_nevergrad(seed=2, init=start, hold=0.8)
        assert isinstance(param["choice4"], ng.p.Choice)
        opt = make_optimizer(optimizer, param, budget=200, num_workers=4)
        asked = []
        for _ in range(120):
            cand = opt.ask()
            asked.append(space.from_nevergrad(cand.value))
            opt.tell(cand, float(abs(asked[-1][0] - 0.6) + (space.to_native(asked[-1])["algo"] != 3)))
        runs.append(np.array(asked))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert len({tuple(u[1:]) for u in runs[0]}) > 5  # the choices did move
