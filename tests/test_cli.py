from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from hybridmatch.cli import main
from tests.conftest import ROOT, SR, sine, write


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hybridmatch.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    ok = write(tmp / "ok.wav", sine(440, 0.5))
    (tmp / "text.wav").write_text("this is not audio\n" * 20)
    (tmp / "empty.wav").write_bytes(b"")
    data = (tmp / "ok.wav").read_bytes()
    (tmp / "truncated.wav").write_bytes(data[:30])
    write(tmp / "zero.wav", np.zeros((1, 0), dtype=np.float32))
    write(tmp / "silent.wav", np.zeros((1, SR), dtype=np.float32))
    nan = sine(440, 0.5)
    nan[0, 100] = np.nan
    write(tmp / "nan.wav", nan, subtype="FLOAT")
    inf = sine(440, 0.5)
    inf[0, 100] = np.inf
    write(tmp / "inf.wav", inf, subtype="FLOAT")
    with wave.open(str(tmp / "long.wav"), "wb") as w:  # 61 s of 8 kHz 8-bit audio, header says it all
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([128]) * 8000 * 61)
    write(tmp / "surround.wav", np.tile(sine(440, 0.3), (3, 1)))
    write(tmp / "lowrate.wav", sine(100, 0.5, sr=4000), sr=4000)
    (tmp / "broken.toml").write_text("name = [unclosed\n")
    (tmp / "nockpt.toml").write_text('[proposer]\nname = "cnf"\nn = 8\n[proposer.options]\ncheckpoint = "no-such.pt"\n[optimizer]\nname = "cma"\n')
    (tmp / "hostile-name.toml").write_text('name = "../../x"\n[optimizer]\nname = "cma"\n')
    (tmp / "hostile-config.toml").write_text('name = "../x"\nsynth = "toy"\n[[param]]\nname = "osc1_amp"\nkind = "continuous"\n')
    (tmp / "bad-option.toml").write_text('[optimizer]\nname = "cma"\n[optimizer.options]\npopsize = "many"\n')
    (tmp / "old-key.toml").write_text('[optimizer]\nname = "cma"\nspread = true\n')
    (tmp / "bad-type.toml").write_text('[proposer]\nname = "random"\nn = "64"\n[optimizer]\nname = "cma"\n')
    (tmp / "a-folder.wav").mkdir()
    (tmp / "bad-weight.toml").write_text('[optimizer]\nname = "cma"\n[loss]\nmss = "heavy"\n')
    (tmp / "bad-proposer-option.toml").write_text('[proposer]\nname = "cnf"\nn = 8\n[proposer.options]\nsteps = "many"\n[optimizer]\nname = "cma"\n')
    (tmp / "bad-modes.toml").write_text('[optimizer]\nname = "cma"\nmodes = 1.5\n')
    (tmp / "not-a-table.toml").write_text('optimizer = "cma"\n')
    checkpoint = ROOT / "hybridmatch" / "ml" / "checkpoints" / "dexed.pt"
    (tmp / "other-ckpt.toml").write_text(f'[proposer]\nname = "cnf"\nn = 8\n[proposer.options]\ncheckpoint = "{checkpoint}"\n[optimizer]\nname = "cma"\n')
    write(tmp / "sampled.wav", sine(440, 0.5))
    (tmp / "sampled.json").write_text('{"synth": "toy", "params": {')
    (tmp / "a-file").write_text("not a folder\n")
    write(tmp / "long-line.wav", np.tile(sine(440, 0.5), (1, 26)))  # 13 s: over the phrase cap
    write(tmp / "noise.wav", np.random.default_rng(0).normal(0, 0.1, (1, SR)).astype(np.float32))
    (tmp / "notes.txt").write_text("C4 E4 G4\n")
    okp = str(ok)
    toy = ["--synth", "toy", "--strategy", "cma"]
    return {
        "budget 0": (["run", okp, *toy, "--budget", "0"], "--budget must be at least 1"),
        "negative budget": (["run", okp, *toy, "--budget", "-5"], "--budget must be at least 1"),
        "NaN budget": (["run", okp, *toy, "--budget", "nan"], "Invalid value for '--budget'"),
        "NaN max-seconds": (["run", okp, *toy, "--max-seconds", "nan"], "--max-seconds must be a positive number"),
        "zero max-seconds": (["run", okp, *toy, "--max-seconds", "0"], "--max-seconds must be a positive number"),
        "NaN duration": (["run", okp, *toy, "--duration", "nan"], "duration must be a positive number"),
        "infinite duration": (["run", okp, *toy, "--duration", "inf"], "duration must be a positive number"),
        "note out of range": (["run", okp, *toy, "--note", "200"], "outside MIDI 0-127"),
        "no workers": (["run", okp, *toy, "--workers", "0"], "--workers must be at least 1"),
        "NaN time": (["run", okp, *toy, "--time", "nan"], "--time must be a positive number of seconds"),
        "negative time": (["run", okp, *toy, "--time", "-60"], "--time must be a positive number of seconds"),
        "keep 0": (["run", okp, *toy, "--keep", "0"], "--keep must be at least 1"),
        "unknown refine": (["run", okp, *toy, "--refine", "pitch"], "Invalid value for '--refine'"),
        "unknown option": (["run", okp, *toy, "--budgett", "4"], "No such option"),
        "ill-typed loss weight": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "bad-weight.toml")], "[loss] must map objectives to weights"),
        "ill-typed proposer option": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "bad-proposer-option.toml")], "steps"),
        "ill-typed modes": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "bad-modes.toml")], "modes"),
        "optimizer not a table": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "not-a-table.toml")], "[optimizer] table"),
        "checkpoint for another config": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "other-ckpt.toml")], "another parameter space"),
        "malformed stem json": (["run", str(tmp / "sampled.wav"), *toy], "sampled.json: not a valid JSON file"),
        "out is a file": (["run", okp, *toy, "--out", str(tmp / "a-file")], "is a file, not a folder"),
        "out on a read-only filesystem": (["run", okp, *toy, "--out", "/sys/hybridmatch-out"], "cannot write there"),
        "hostile strategy name": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "hostile-name.toml")], "strategy name '../../x'"),
        "hostile config name": (["run", okp, "--synth", "toy", "--config", str(tmp / "hostile-config.toml")], "synth config name '../x'"),
        "bad optimizer option": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "bad-option.toml")], "bad options"),
        "removed optimizer key": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "old-key.toml")], "unknown key 'spread'"),
        "ill-typed proposer n": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "bad-type.toml")], "n must be a whole number"),
        "folder as target": (["run", str(tmp / "a-folder.wav")], "not a file"),
        "missing": (["run", str(tmp / "nope.wav")], "not found"),
        "non-audio": (["run", str(tmp / "text.wav")], "not a readable audio file"),
        "empty file": (["run", str(tmp / "empty.wav")], "empty"),
        "truncated header": (["run", str(tmp / "truncated.wav")], "not a readable audio file"),
        "zero length": (["run", str(tmp / "zero.wav")], "no samples"),
        "silent": (["run", str(tmp / "silent.wav")], "silent"),
        "nan": (["run", str(tmp / "nan.wav")], "NaN"),
        "inf": (["run", str(tmp / "inf.wav")], "NaN or inf"),
        "too long": (["run", str(tmp / "long.wav")], "--max-seconds"),
        "3 channels": (["run", str(tmp / "surround.wav")], "channels"),
        "bad rate": (["run", str(tmp / "lowrate.wav")], "sample rate"),
        "unknown synth": (["run", okp, "--synth", "moog"], "unknown synth"),
        "missing plugin": (["run", okp, "--synth", f"vst3:{tmp / 'nope.vst3'}"], "VST3 plugin not found"),
        "batch of nothing": (["batch", str(tmp / "no-such-folder")], "not a folder of audio files"),
        "unknown strategy": (["run", okp, "--strategy", "simulated-annealing"], "unknown strategy"),
        "unknown config": (["run", okp, "--config", "vital-huge"], "unknown synth config"),
        "malformed strategy toml": (["run", okp, "--strategy", str(tmp / "broken.toml")], "malformed TOML"),
        "malformed config toml": (["run", okp, "--config", str(tmp / "broken.toml")], "malformed TOML"),
        "bad note": (["run", okp, "--note", "C4"], "--note"),
        "missing checkpoint": (["run", okp, "--synth", "toy", "--strategy", str(tmp / "nockpt.toml")], "no cnf checkpoint"),
        "phrase over the length cap": (["run", str(tmp / "long-line.wav"), *toy, "--notes", "phrase"], "over the 12 s matched"),
        "phrase without notes": (["run", str(tmp / "noise.wav"), *toy, "--notes", "phrase"], "no pitched notes found"),
        "notes file not MIDI": (["run", okp, *toy, "--notes", str(tmp / "notes.txt")], "is not a MIDI file"),
        "notes file missing": (["run", okp, *toy, "--notes", str(tmp / "nope.mid")], "notes file not found"),
        "a note for a phrase": (["run", okp, *toy, "--notes", "phrase", "--note", "60"], "describe one note"),
        "notes file for a batch": (["batch", str(tmp), *toy, "--notes", str(tmp / "notes.txt")], "a MIDI file holds one recording's notes"),
    }


def test_a_folder_named_like_a_config_does_not_shadow_it(tmp_path, monkeypatch):
    from hybridmatch.catalog import resolve_strategy, resolve_synth

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dexed").mkdir()
    (tmp_path / "cma").mkdir()
    assert resolve_synth("dexed", None).space.name == "dexed"
    assert resolve_strategy("cma").name == "cma"


def test_ml_commands_reject_bad_input_in_one_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    runner = CliRunner()
    cases = {
        "no dataset": (["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m.pt"), "--synth", "toy"], "not a dataset"),
        "unknown synth": (["dataset", "--synth", "moog", "--n", "4", "--out", str(tmp_path / "d")], "unknown synth"),
        "bad n": (["dataset", "--synth", "toy", "--n", "0", "--out", str(tmp_path / "d0")], "at least 1"),
        "bad checkpoint": (["checkpoints", str(tmp_path / "junk.pt")], "not a hybridmatch checkpoint"),
    }
    for name, (args, needle) in cases.items():
        result = runner.invoke(main, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], (name, result.output)
    assert not (tmp_path / "m.pt").exists()


def test_bad_input_corpus_exits_2_with_one_line_and_writes_nothing(tmp_path):
    cases = _bad_inputs(tmp_path)
    runner = CliRunner()
    assert len(cases) >= 45
    for name, (args, needle) in cases.items():
        out = Path(args[args.index("--out") + 1]) if "--out" in args else tmp_path / f"out-{name.replace(' ', '_')}"
        before = out.read_bytes() if out.is_file() else None
        extra = [] if "--budget" in args else ["--budget", "4"]
        result = runner.invoke(main, [*args, "--out", str(out), "--quiet", *extra])
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("hybridmatch: error:"), (name, result.output)
        assert needle in lines[0], (name, lines[0])
        assert "Traceback" not in result.output
        assert out.read_bytes() == before if before is not None else not out.exists(), name


def test_unusual_but_valid_sources_and_names_are_matched(tmp_path):
    """8 and 96 kHz, 24-bit PCM, a unicode stem and a 200-character stem: each is resampled or read
    and matched into its own folder."""
    cases = {
        "eight-k.wav": (sine(440, 0.5, sr=8000), 8000, {}),
        "ninety-six-k.wav": (sine(440, 0.5, sr=96000), 96000, {}),
        "pcm24.wav": (sine(440, 0.5), SR, {"subtype": "PCM_24"}),
        "ça-sonne-音.wav": (sine(440, 0.5), SR, {}),
        ("x" * 200) + ".wav": (sine(440, 0.5), SR, {}),
    }
    runner = CliRunner()
    for name, (audio, rate, kw) in cases.items():
        path = write(tmp_path / name, audio, rate, **kw)
        out = tmp_path / "out" / path.stem
        result = runner.invoke(main, ["run", str(path), "--synth", "toy", "--strategy", "cma", "--budget", "8", "--keep", "2",
                                      "--workers", "1", "--out", str(out), "--quiet"])
        assert result.exit_code == 0, (name, result.output)
        res = json.loads((out / "results.json").read_text())
        assert res["target"] == path.stem and res["renders"] == 8 and res["candidates"], name


def test_an_output_folder_continues_only_its_own_job(tmp_path):
    """The same job again resumes (nothing re-rendered); another job is refused in one line with the
    folder untouched; --force replaces it and leaves no stale preset from the longer set before."""
    t = write(tmp_path / "t.wav", sine(330, 0.5))
    out = tmp_path / "out"
    runner = CliRunner()

    def run(*extra: str) -> Any:
        return runner.invoke(main, ["run", str(t), "--synth", "toy", "--strategy", "random", "--budget", "24", "--workers", "1",
                                    "--out", str(out), "--quiet", *extra])

    assert run("--keep", "6").exit_code == 0
    first = json.loads((out / "results.json").read_text())
    archive = (out / "archive.jsonl").read_bytes()
    assert len(first["candidates"]) >= 3 and first["job"]["seed"] == 0 and first["job"]["strategy"] == "random"
    timings = first["timings"]  # seconds per phase; the first render comes after the analysis
    assert all(timings[f"{p}_s"] >= 0 for p in ("analysis", "probes", "search", "verify", "write", "report"))
    assert timings["analysis_s"] <= timings["first_render_s"] <= timings["analysis_s"] + timings["probes_s"] + timings["search_s"] + 1
    again = run("--keep", "6")
    assert again.exit_code == 0 and (out / "archive.jsonl").read_bytes() == archive  # resumed: the budget was already spent
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = run("--seed", "1")
    lines = [line for line in other.output.splitlines() if line.strip()]
    assert other.exit_code == 2 and len(lines) == 1 and "holds another job's results (seed differ)" in lines[0] and "--force" in lines[0]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    forced = run("--seed", "1", "--keep", "1", "--force")
    assert forced.exit_code == 0, forced.output
    res = json.loads((out / "results.json").read_text())
    assert res["job"]["seed"] == 1 and len(res["candidates"]) == 1
    assert sorted(p.name for p in (out / "presets").iterdir()) == ["01.json"]
    assert sorted(p.name for p in (out / "renders").iterdir()) == ["01.wav", "target.wav"]
    assert len((out / "archive.jsonl").read_text().splitlines()) == 24


def test_describe_refuses_a_file_that_is_not_a_plugin(tmp_path):
    (tmp_path / "Fake.vst3").write_text("not a plugin\n")
    for path, needle in ((tmp_path / "Fake.vst3", "could not load"), (tmp_path / "Missing.vst3", "not found")):
        result = CliRunner().invoke(main, ["describe", str(path)])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and needle in result.output, result.output


def test_bad_input_from_a_real_process_has_no_traceback(tmp_path):
    res = run_cli("run", str(tmp_path / "missing.wav"), cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_run_writes_the_output_layout_and_is_reproducible(tmp_path):
    runner = CliRunner()
    t = tmp_path / "t.wav"
    res = runner.invoke(main, ["sample", "--synth", "toy", "--seed", "77", "--duration", "0.3", "--seconds", "0.4", "--out", str(t)])
    assert res.exit_code == 0, res.output
    outs = []
    for k in range(2):
        out = tmp_path / f"o{k}"
        res = runner.invoke(main, ["run", str(t), "--synth", "toy", "--strategy", "cma", "--budget", "40", "--workers", "2",
                                   "--keep", "4", "--seed", "3", "--out", str(out), "--quiet"])
        assert res.exit_code == 0, res.output
        outs.append(out)
    results = [json.loads((o / "results.json").read_text()) for o in outs]
    for r in results:
        for key in ("wall_s", "timings"):  # seconds differ from run to run
            r.pop(key)
    assert results[0] == results[1]
    r = results[0]
    assert r["renders"] == 40 and 1 <= len(r["candidates"]) <= 4
    assert len((outs[0] / "archive.jsonl").read_text().splitlines()) == 40
    for c in r["candidates"]:
        assert (outs[0] / c["preset"]).exists() and (outs[0] / c["audio"]).exists()
        assert set(c["objectives"]) == {"mss", "wmfcc", "sot", "rms"}
        assert c["rms_cosine"] == pytest.approx(1 - c["objectives"]["rms"])
    assert (outs[0] / "renders" / "target.wav").exists()


def test_score_prints_five_metrics(tmp_path):
    a = write(tmp_path / "a.wav", sine(440))
    b = write(tmp_path / "b.flac", sine(660), format="FLAC")
    res = CliRunner().invoke(main, ["score", str(a), str(b)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"mss", "wmfcc", "sot", "rms_cosine", "mfccd"} and out["mss"] > 1


def test_readme_test_command_matches_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = [line for line in ci.splitlines() if line.startswith("pip install -q -e '.[test]'")][0]
    assert command in readme


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_writes_the_best_set_so_far(tmp_path):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does, workers included)."""
    import os
    import signal
    import time

    runner = CliRunner()
    assert runner.invoke(main, ["sample", "--synth", "toy", "--seed", "5", "--duration", "0.3", "--seconds", "0.4", "--out", str(tmp_path / "t.wav")]).exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "hybridmatch.cli", "run", "t.wav", "--synth", "toy", "--strategy", "cma", "--budget", "100000",
                             "--workers", "2", "--out", "o", "--quiet"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # ^ a shell's background job ignores SIGINT and children inherit that; a terminal's Ctrl-C does not
    archive = tmp_path / "o" / "archive.jsonl"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and not (archive.exists() and archive.read_text().count("\n") > 60):
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a 100000-render search running behind a failed test
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "Traceback" not in err, err
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["interrupted"] and 60 < res["renders"] < 100000
    # every render is on disk: the search's in the archive, the note/length probes in probes.jsonl
    spent = res["analysis"]["spent"]
    assert res["analysis"]["refined"] and spent > 0
    assert res["renders"] == archive.read_text().count("\n") + spent
    assert (tmp_path / "o" / "probes.jsonl").read_text().count("\n") == res["analysis"]["renders"]
    assert len(res["candidates"]) >= 4 and all((tmp_path / "o" / c["preset"]).exists() for c in res["candidates"])


def test_run_scores_the_known_answer_of_a_sampled_target(tmp_path):
    assert run_cli("sample", "--synth", "toy", "--seed", "5", "--out", str(tmp_path / "t.wav"), cwd=tmp_path).returncode == 0
    args = ["run", str(tmp_path / "t.wav"), "--synth", "toy", "--strategy", "random", "--budget", "6", "--workers", "1", "--quiet"]
    res = run_cli(*args, "--note", "60", "--duration", "0.6", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ref = json.loads((tmp_path / "o" / "results.json").read_text())["reference"]
    assert ref["objectives"]["mss"] < 1e-3 and ref["rms_cosine"] > 0.999  # the true patch under the true note and length
    assert "known answer" in (tmp_path / "o" / "report.html").read_text()
    meta = json.loads((tmp_path / "t.json").read_text())
    (tmp_path / "t.json").write_text(json.dumps({**meta, "config": "another-config"}))
    assert run_cli(*args, "--out", str(tmp_path / "o2"), cwd=tmp_path).returncode == 0
    assert "reference" not in json.loads((tmp_path / "o2" / "results.json").read_text())


def test_progress_logs_plain_lines_off_a_terminal_only_for_long_runs(capsys, monkeypatch):
    """Off a terminal (logs, CI) a long job leaves a line every LOG_EVERY seconds and a last one on
    close; a short job and a --quiet one print nothing."""
    from hybridmatch import progress

    clock = iter(range(0, 1000, 10))  # each perf_counter() call: 10 s later
    monkeypatch.setattr(progress.time, "perf_counter", lambda: float(next(clock)))
    long = progress.Progress(5, quiet=False, label="long")
    for i in range(1, 6):
        long.update(i, f"step {i}")
    long.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("long: ") for line in lines) and lines[-1].startswith("long: 5/5 step 5")
    assert len(lines) < 5  # throttled, not one per update
    for quiet in (False, True):
        monkeypatch.setattr(progress.time, "perf_counter", lambda: 0.0)
        short = progress.Progress(5, quiet=quiet, label="short")
        short.update(5, "done")
        short.close()
    assert capsys.readouterr().err == ""


def test_strategy_auto_is_cnf_cma_the_measured_best_per_config_or_cma_without_a_checkpoint(configs):
    """`run`'s default: Vital (the issue's default pair) gets cnf-cma; Dexed the strategy measured
    best there; a config with no shipped flow (a plugin, your own) plain CMA-ES instead of an error."""
    from hybridmatch.catalog import load_synth, resolve_strategy, resolve_synth

    picks = {name: resolve_strategy("auto", resolve_synth("vital" if name.startswith("vital") else name, name)).name
             for name in ("vital-simple", "vital-fresh", "vital-full", "dexed")}
    assert picks == {"vital-simple": "cnf-cma", "vital-fresh": "cnf-cma", "vital-full": "cma", "dexed": "cnf-latent-sur"}
    assert resolve_strategy("auto", load_synth(configs / "toy.toml")).name == "cnf-cma"
    assert next(p for p in main.commands["run"].params if p.name == "strategy").default == "auto"


def test_crosscheck_and_bench_vary_refuse_bad_input_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (["crosscheck", str(tmp_path / "missing"), "--synth", "toy"], "not found"),
        (["crosscheck", str(tmp_path / "empty"), "--synth", "toy"], "no finished runs"),
        (["bench-render", "--synth", "toy", "--renders", "2", "--vary", "timeout", "--out", str(tmp_path / "b.md")], "--vary wants KEY=V1,V2"),
    ]
    for args, needle in cases:
        result = CliRunner().invoke(main, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and needle in lines[0], (args, result.output)
    assert not (tmp_path / "b.md").exists()


def test_the_reported_scores_are_those_of_the_written_renders(tmp_path):
    """The returned set's and the known answer's scores come from the workers' fresh renders; they are
    what ``hybridmatch score`` says of the files the run wrote."""
    from hybridmatch import match
    from hybridmatch.audio import load_audio
    from hybridmatch.catalog import resolve_synth
    from hybridmatch.objectives import score_files
    from hybridmatch.sampling import save_sample

    wav = save_sample(resolve_synth("toy", None), seed=8, note=62, duration=0.3, seconds=0.5, out=tmp_path / "t.wav")[0]
    res = match(wav, synth="toy", strategy="random", budget=24, keep=3, out=tmp_path / "o", report=False, note=62, duration=0.3).results
    target, rate = load_audio(tmp_path / "o" / "renders" / "target.wav")
    for cand in res["candidates"]:
        audio, _ = load_audio(tmp_path / "o" / cand["audio"])
        files = score_files(target, rate, audio, rate, sample_rate=rate)
        reported = {k: cand["objectives"][k] for k in ("mss", "wmfcc", "sot")}
        assert files == pytest.approx({**reported, "rms_cosine": cand["rms_cosine"], "mfccd": cand["mfccd"]}, rel=1e-5, abs=1e-6)
    assert res["reference"]["objectives"]["mss"] < 1e-3 and res["reference"]["mfccd"] < 1e-3
