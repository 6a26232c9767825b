"""The package as a user installs it: a wheel, outside the source checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_a_built_wheel_carries_configs_and_strategies_and_matches_from_any_folder(tmp_path):
    """Built and installed without the checkout on the path, the package finds its shipped configs,
    strategies and checkpoints inside itself and runs a match from an unrelated folder."""
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT)],
                   check=True, cwd=tmp_path)
    wheel = next(wheels.glob("hybridmatch-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("HYBRIDMATCH_DATA", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hybridmatch.cli", *args], cwd=work, env=env, capture_output=True, text=True)

    where = subprocess.run([sys.executable, "-c", "import hybridmatch, hybridmatch.catalog as c; print(hybridmatch.__file__); print(c.data_root())"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(site)) and where[1] == str(site / "hybridmatch" / "_data")
    assert cli("sample", "--synth", "toy", "--seed", "3", "--duration", "0.3", "--seconds", "0.5", "--out", "t.wav").returncode == 0
    run = cli("run", "t.wav", "--synth", "toy", "--budget", "80", "--workers", "1", "--quiet", "--out", "o")  # auto: cnf-cma, the shipped toy flow
    assert run.returncode == 0, run.stderr
    results = json.loads((work / "o" / "results.json").read_text())
    assert results["strategy"] == "cnf-cma" and results["renders"] == 80 and results["candidates"]
