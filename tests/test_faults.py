"""Fault injection: a real crashing, hanging or interrupting render at each phase of a run (search,
verify, reference) and of a dataset build. The run still ends with ``results.json`` (the dataset with
a record of the patch), says what was skipped, and loses no archived render."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import numpy as np
import pytest

from hybridmatch.audio import Target
from hybridmatch.engine import run_match
from hybridmatch.errors import Interrupted
from hybridmatch.render import RenderPool
from hybridmatch.sampling import sample_patch
from hybridmatch.search import Archive, OptimizerSpec, Strategy
from tests._crashy import FAULT_AMP

pytestmark = pytest.mark.slow


@pytest.fixture()
def faulty(toy_spec):
    """The toy synth behind FaultyToy, with a 1 s render watchdog (beyond the render's length)."""
    return dataclasses.replace(toy_spec, backend="tests._crashy:FaultyToy", render={**toy_spec.render, "timeout": 1.0})


def _fault(monkeypatch, tmp_path, mode: str, phase: str) -> str:
    """Sets the fault up for worker processes started from now on: a reusable worker left by an
    earlier test holds the environment it was started with, so it is shut down first."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    trigger = str(tmp_path / "verify-now")
    for key, value in {"HM_FAULT": mode, "HM_FAULT_ON": phase, "HM_FAULT_FILE": trigger, "HM_FAULT_PARENT": str(os.getpid())}.items():
        monkeypatch.setenv(key, value)
    return trigger


def _target(spec) -> tuple[Target, dict]:
    audio, values = sample_patch(spec, seed=5, note=60, duration=0.3, seconds=0.5)
    return Target(audio, spec.sample_rate, note=60, duration=0.3, note_source="given", duration_source="given"), {**values, "osc1_amp": FAULT_AMP}


def _match(spec, tmp_path, trigger: str | None = None, budget: int = 24):
    target, reference = _target(spec)
    out = tmp_path / "out"

    def on_progress(archive: Archive) -> None:
        if trigger and len(archive) >= budget:  # the search is over: from now on every render faults
            open(trigger, "w").close()

    def go() -> dict:
        with RenderPool(1) as pool:
            return run_match(target, spec, Strategy("random", OptimizerSpec("random")), pool=pool, out_dir=out, budget=budget, keep=2, seed=3,
                             reference=reference, on_progress=on_progress, report=False)

    return out, go


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_a_fault_in_the_search_is_one_failed_render(faulty, tmp_path, monkeypatch, mode):
    _fault(monkeypatch, tmp_path, mode, "search")
    out, go = _match(faulty, tmp_path)
    res = go()
    failed = [e for e in Archive.load(out / "archive.jsonl").entries if e.error]
    assert res["renders"] == 24 and res["failed_renders"] == len(failed) >= 1
    assert all(("worker died" if mode == "crash" else "timed out") in e.error for e in failed)
    assert res["candidates"] and res["skipped"] == [] and "reference" in res
    assert json.loads((out / "results.json").read_text())["failed_renders"] == len(failed)


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_a_fault_in_verify_leaves_the_patch_out_and_says_so(faulty, tmp_path, monkeypatch, mode):
    trigger = _fault(monkeypatch, tmp_path, mode, "verify")
    out, go = _match(faulty, tmp_path, trigger)
    res = go()
    assert res["renders"] == 24 and len(Archive.load(out / "archive.jsonl")) == 24  # every render kept
    shortlist = 2  # keep = 2
    assert res["candidates"] == [] and res["verified"] == shortlist
    assert res["skipped"] == [f"verify: {shortlist} of {shortlist} shortlisted patches failed to render again and were left out",
                              "reference: the known answer's render failed"]
    assert json.loads((out / "results.json").read_text())["skipped"] == res["skipped"]
    assert not list((out / "presets").glob("*"))


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_a_fault_in_the_reference_render_keeps_the_set(faulty, tmp_path, monkeypatch, mode):
    _fault(monkeypatch, tmp_path, mode, "reference")
    out, go = _match(faulty, tmp_path)
    res = go()
    assert len(res["candidates"]) == 2 and all((out / c["preset"]).is_file() for c in res["candidates"])
    assert "reference" not in res and res["skipped"] == ["reference: the known answer's render failed"]


@pytest.mark.parametrize("phase", ["verify", "reference"])
def test_ctrl_c_in_verify_or_reference_still_writes_results(faulty, tmp_path, monkeypatch, request, phase):
    """A real SIGINT from a worker while the parent waits on the shortlist or the known answer."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a job started in the background ignores SIGINT
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    trigger = _fault(monkeypatch, tmp_path, "interrupt", phase)
    out, go = _match(faulty, tmp_path, trigger if phase == "verify" else None)
    with pytest.raises(Interrupted, match="results.json"):
        go()
    res = json.loads((out / "results.json").read_text())
    assert res["interrupted"] and len(Archive.load(out / "archive.jsonl")) == 24
    if phase == "verify":  # the set the search's scores rank, without files
        assert res["skipped"][0].startswith("verify: interrupted") and res["candidates"]
        assert all(c["preset"] is None and np.isfinite(c["objectives"]["mss"]) for c in res["candidates"])
    else:
        assert res["skipped"] == ["reference: interrupted"] and all((out / c["preset"]).is_file() for c in res["candidates"])


@pytest.mark.parametrize("mode", ["crash", "hang"])
def test_a_patch_that_kills_its_dataset_worker_is_skipped_and_recorded(faulty, tmp_path, monkeypatch, mode):
    from hybridmatch.ml.dataset import FlowData, build_dataset

    _fault(monkeypatch, tmp_path, mode, "search")
    stats = build_dataset(faulty, n=24, out=tmp_path / "data", shard=12, seed=1)
    records = [json.loads((tmp_path / "data" / f"shard_{i:05d}.json").read_text()) for i in range(2)]
    crashed = [c for r in records for c in r["crashed"]]
    assert stats["n"] == len(FlowData(tmp_path / "data")) == 24 and stats["crashed"] == len(crashed) >= 1
    assert all(c["unit"][faulty.space.index["osc1_amp"]] > 0.9 for c in crashed)
    assert all(("worker died" if mode == "crash" else "timed out") in c["why"] for c in crashed)
    again = build_dataset(faulty, n=24, out=tmp_path / "data", shard=12, seed=1)  # resumed: nothing is replayed
    assert again["renders_this_run"] == 0 and again["crashed"] == stats["crashed"]
