"""The benchmark commands produce their tables (what they measure is not asserted: timings belong
in results/, not in tests)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from hybridmatch.bench import bench_render
from hybridmatch.cli import main


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_bench_render_measures_each_worker_count(toy_spec, tmp_path):
    out = tmp_path / "bench.md"
    text = bench_render(toy_spec, workers=[1, 2], renders=16, seconds=0.3, out=out)
    assert out.read_text() == text
    rows = _rows(text)
    assert [r[0] for r in rows] == ["1", "2"]
    assert rows[0][2] == "1.00x"  # the first setting is the base of the speed-up
    assert all(float(r[1]) > 0 and float(r[4]) > 0 for r in rows)


def test_bench_propose_times_every_shipped_proposer(tmp_path):
    out = tmp_path / "propose.md"
    result = CliRunner().invoke(main, ["bench-propose", "--synth", "toy", "--repeats", "1", "--seconds", "0.3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _rows(out.read_text())
    assert [r[0] for r in rows] == ["toy"] * 3
    assert [re.match(r"`(\w+)`", r[1]).group(1) for r in rows] == ["cnf", "cnf", "regress"]
    assert "surrogate" in rows[1][1]
    assert all(float(r[3]) > 0 and float(r[5]) > 0 for r in rows)


def test_bench_propose_refuses_an_unknown_synth(tmp_path):
    result = CliRunner().invoke(main, ["bench-propose", "--synth", "nosuch", "--out", str(tmp_path / "x.md")])
    assert result.exit_code != 0
    assert "unknown synth 'nosuch'" in result.output
    assert "Traceback" not in result.output


def test_vary_makes_one_spec_per_value_of_a_synth_option(toy_spec):
    from hybridmatch.bench import vary_specs

    settings = vary_specs(toy_spec, "initialization_timeout=0,10.5,off")
    assert [label for label, _ in settings] == ["initialization_timeout = 0", "initialization_timeout = 10.5", "initialization_timeout = off"]
    assert [spec.options["initialization_timeout"] for _, spec in settings] == [0, 10.5, "off"]  # TOML values, else text
    assert len({spec.key for _, spec in settings}) == 3 and all(spec.space is toy_spec.space for _, spec in settings)
    assert vary_specs(toy_spec, None) == [("", toy_spec)]


@pytest.mark.slow
def test_bench_run_times_every_phase_of_a_whole_run(tmp_path):
    out = tmp_path / "run.md"
    result = CliRunner().invoke(main, ["bench-run", "--synth", "toy", "--workers", "1", "--renders", "16", "--seconds", "0.4", "--repeats", "1",
                                       "--strategy", "random", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "--strategy random`" in out.read_text() and "process (random, 16 renders" in out.read_text()  # the runs used it
    (row,) = _rows(out.read_text())
    assert row[:2] == ["toy", "1"] and len(row) == 18
    total, phases = float(row[2]), [float(v) for v in row[3:11]]
    assert min(phases[:-1]) >= 0 and abs(sum(phases) - total) < 0.2  # the phases add up to the run
    assert phases[0] + phases[1] - 0.02 <= float(row[12]) <= total  # the first render comes after imports and analysis (to the rounding)


def test_bench_run_needs_at_least_one_repeat_and_a_known_strategy(tmp_path):
    result = CliRunner().invoke(main, ["bench-run", "--synth", "toy", "--repeats", "0", "--out", str(tmp_path / "run.md")])
    assert result.exit_code == 2 and "--repeats must be at least 1" in result.output and not (tmp_path / "run.md").exists()
    result = CliRunner().invoke(main, ["bench-run", "--synth", "toy", "--strategy", "nope", "--out", str(tmp_path / "run.md")])
    assert result.exit_code == 2 and "nope" in result.output and not (tmp_path / "run.md").exists()
