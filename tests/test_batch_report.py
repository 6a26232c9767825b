"""batch (resume after kill -9, bad files, a dask cluster) and report.html in headless Chromium."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hybridmatch.batch import batch
from hybridmatch.catalog import load_synth
from hybridmatch.cli import main
from hybridmatch.engine import run_match
from hybridmatch.errors import ConfigError
from hybridmatch.report import write_index
from hybridmatch.search import load_strategy
from hybridmatch.search._archive import _read_lines

from .conftest import ROOT, sine, write


def _toy_targets(folder: Path) -> Path:
    (folder / "drums" / "deep").mkdir(parents=True)
    write(folder / "a.wav", sine(220, 0.4) + sine(660, 0.4, amp=0.2))
    write(folder / "drums" / "b.flac", sine(330, 0.4, decay=8.0), format="FLAC")
    write(folder / "drums" / "deep" / "c.wav", sine(150, 0.4) + sine(450, 0.4, amp=0.3))
    (folder / "drums" / "broken.wav").write_text("not audio at all\n" * 10)
    return folder


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hybridmatch.cli", *args]


@pytest.mark.slow
def test_batch_killed_with_sigkill_resumes_without_losing_a_target_or_a_render(tmp_path):
    folder, out = _toy_targets(tmp_path / "in"), tmp_path / "out"
    budget = 240
    cmd = _cli("batch", str(folder), "--synth", "toy", "--strategy", "cma", "--budget", str(budget), "--workers", "1",
               "--keep", "3", "--out", str(out), "--quiet")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    first, second = out / "a", out / "drums" / "b"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if (first / "results.json").exists() and (second / "archive.jsonl").exists() and len(list(_read_lines(second / "archive.jsonl"))) >= 40:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the batch finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (second / "results.json").exists()
    done_before = (first / "results.json").read_bytes()
    archived_before = list(_read_lines(second / "archive.jsonl"))
    assert 40 <= len(archived_before) < budget

    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert (first / "results.json").read_bytes() == done_before  # complete targets are skipped, not redone
    archived_after = list(_read_lines(second / "archive.jsonl"))
    assert archived_after[: len(archived_before)] == archived_before  # every render from before the kill is kept
    resumed = json.loads((second / "results.json").read_text())
    assert resumed["analysis"]["refined"]  # the length was estimated; the resumed run kept the choice made before the kill
    saved = json.loads((second / "analysis.json").read_text())
    assert saved.pop("job") == resumed["job"] == json.loads((second / "job.json").read_text())  # the job it was chosen under
    assert resumed["analysis"] == saved
    assert len(archived_after) + resumed["analysis"]["spent"] == budget == resumed["renders"]
    summary = json.loads((out / "batch.json").read_text())
    status = {row["file"]: row["status"] for row in summary["targets"]}
    assert status == {"a.wav": "done", "drums/b.flac": "done", "drums/broken.wav": "error", "drums/deep/c.wav": "done"}
    assert "not a readable audio file" in next(r["error"] for r in summary["targets"] if r["status"] == "error")
    for sub in ("a", "drums/b", "drums/deep/c"):
        assert (out / sub / "report.html").exists() and len(list((out / sub / "presets").glob("*.json"))) == 3
    index = (out / "index.html").read_text()
    assert 'href="./drums/deep/c/report.html"' in index and "broken.wav" in index


@pytest.mark.slow
def test_batch_on_a_dask_cluster_matches_the_local_result(tmp_path, toy_spec):
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "x.wav", sine(220, 0.4) + sine(660, 0.4, amp=0.2))
    write(folder / "y.wav", sine(330, 0.4, decay=8.0))
    strategy = load_strategy(ROOT / "strategies" / "cma.toml")
    local = batch(folder, toy_spec, strategy, out=tmp_path / "local", budget=24, workers=1, keep=2, quiet=True)
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        remote = batch(folder, toy_spec, strategy, out=tmp_path / "dask", budget=24, workers=2, keep=2, quiet=True,
                       backend="dask", scheduler=cluster.scheduler_address)
        tasks = client.run(lambda dask_worker: len(dask_worker.data) + dask_worker.state.executed_count)
    assert [r["status"] for r in remote] == ["done", "done"]
    assert sum(tasks.values()) > 0 and len(tasks) == 2  # the renders ran on the cluster's two workers
    for a, b in zip(local, remote, strict=True):  # same seeds, same renders: the backend does not change the answer
        assert a["mss"] == pytest.approx(b["mss"], rel=1e-6) and a["renders"] == b["renders"] == 24


def test_batch_refuses_an_empty_folder(tmp_path, toy_spec):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no audio files"):
        batch(tmp_path / "empty", toy_spec, load_strategy(ROOT / "strategies" / "random.toml"), out=tmp_path / "o", budget=4)


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is a test extra: pip install -e '.[test]'")
    return exe


def test_batch_skips_only_the_same_job_and_refuses_another_per_target(tmp_path, toy_spec):
    """A finished target is skipped only under the same job; a target folder left by another seed is
    an error row (the others go on), and ``force`` redoes it."""
    from hybridmatch.search import load_strategy

    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / "a.wav", sine(330, 0.5))
    strategy = load_strategy(ROOT / "strategies" / "random.toml")
    kw = {"out": tmp_path / "out", "budget": 8, "keep": 2, "quiet": True}
    first = batch(tmp_path / "in", toy_spec, strategy, **kw)
    stamp = (tmp_path / "out" / "a" / "results.json").stat().st_mtime_ns
    assert [r["status"] for r in first] == ["done"]
    assert batch(tmp_path / "in", toy_spec, strategy, **kw) == first  # skipped: read back, not rerun
    assert (tmp_path / "out" / "a" / "results.json").stat().st_mtime_ns == stamp
    other = batch(tmp_path / "in", toy_spec, strategy, seed=1, **kw)
    assert other[0]["status"] == "error" and "holds another job's results (seed differ)" in other[0]["error"]
    forced = batch(tmp_path / "in", toy_spec, strategy, seed=1, force=True, **kw)
    assert forced[0]["status"] == "done" and json.loads((tmp_path / "out" / "a" / "results.json").read_text())["job"]["seed"] == 1


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from hybridmatch.audio import analyse

    spec = load_synth(ROOT / "configs" / "synths" / "toy.toml")
    audio = sine(300, 0.6) + sine(900, 0.6, amp=0.2)
    target = analyse(audio, 44100, note=62, duration=0.4, name="pluck")
    out = tmp_path_factory.mktemp("run")
    from hybridmatch.render import RenderPool

    with RenderPool(1) as pool:
        res = run_match(target, spec, load_strategy(ROOT / "strategies" / "cma.toml"), pool=pool, budget=30, keep=3, out_dir=out)
    return out, res


def test_report_is_self_contained(toy_run):
    out, res = toy_run
    page = (out / "report.html").read_text()
    assert page.count("<audio") == 1 + len(res["candidates"]) and page.count('src="data:audio/wav;base64,') == 1 + len(res["candidates"])
    assert 'src="http' not in page and "<script" not in page  # nothing to fetch: opens offline
    assert page.count('src="data:image/png;base64,') == 2 + len(res["candidates"])  # spectrograms + Pareto scatter
    assert "RMS similarity" in page and f"{res['candidates'][0]['rms_cosine']:.4f}" in page
    for c in res["candidates"]:
        assert f'href="./{c["preset"]}"' in page and (out / c["preset"]).exists()
    # how each recipe differs from #1: one row each, and every moved parameter marked in the table
    assert page.count("<tr><td>#") == len(res["candidates"]) - 1 >= 1
    moved = {m["param"] for c in res["candidates"][1:] for m in c["differs"]["moved"]}
    assert moved and page.count("class='mv'") == sum(len(c["differs"]["moved"]) for c in res["candidates"][1:])


def test_a_report_that_fails_is_recorded_and_the_result_kept(toy_run, tmp_path, monkeypatch):
    """results.json is written before the report; a report that raises is listed in ``skipped``,
    and a report drawn for a result with skips shows them."""
    import shutil

    from hybridmatch import report as report_module
    from hybridmatch.engine import report_or_skip

    out, res = toy_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    monkeypatch.setattr(report_module, "write_report", lambda *a, **k: (_ for _ in ()).throw(MemoryError("no room to draw")))
    results = json.loads((copy / "results.json").read_text())
    report_or_skip(copy, results)
    assert json.loads((copy / "results.json").read_text())["skipped"] == ["report: MemoryError: no room to draw"]
    assert not (copy / "report.html").exists()
    monkeypatch.undo()
    report_module.write_report(copy, results={**results, "skipped": ["reference: <the known answer's render failed>"]})
    assert "Skipped reference: &lt;the known answer&#x27;s render failed&gt;" in (copy / "report.html").read_text()


def test_report_renders_in_headless_chromium(toy_run, tmp_path):
    exe = _chromium()
    from playwright.sync_api import sync_playwright

    out, res = toy_run
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            page.wait_for_function("[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)", timeout=30000)
            durations = page.evaluate("[...document.querySelectorAll('audio')].map(a => a.duration)")
            decoded = page.evaluate("Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth)))")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert errors == []
    seconds = res["seconds"]
    assert len(durations) == 1 + len(res["candidates"]) and all(abs(d - seconds) < 0.05 for d in durations), durations
    assert len(decoded) == 2 + len(res["candidates"]) and all(w > 100 for w in decoded)
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert pixels.std() > 0.05 and (pixels.reshape(-1, 3).max(axis=1) < 0.5).mean() > 0.01  # not blank: dark spectrogram pixels
    assert np.isfinite(pixels).all()


def test_compare_reads_small_budgets_off_one_run_and_resumes(tmp_path, toy_spec):
    import csv

    from hybridmatch.compare import compare
    from hybridmatch.search import Archive

    folder = tmp_path / "targets"
    folder.mkdir()
    write(folder / "t1.wav", sine(220, 0.4) + sine(660, 0.4, amp=0.2))
    write(folder / "t2.wav", sine(330, 0.4, decay=8.0))
    strategies = [load_strategy(ROOT / "strategies" / f"{n}.toml") for n in ("random", "cma")]
    out = tmp_path / "cmp"
    summary = compare(folder, toy_spec, strategies, budgets=[5, 20], seeds=2, workers=1, out=out, quiet=True)
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert len(rows) == 2 * 2 * 2 * 2 and {r["budget"] for r in rows} == {"5", "20"}
    for png in ("anytime.png", "targets.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## budget 5" in summary and "pairwise win rate" in summary and "renders to reach" in summary
    assert "## the returned recipes at budget 20" in summary
    # each done.json keeps what run would return from the archive, measured as a set
    info = json.loads((out / "runs" / "cma" / "t1" / "s1" / "done.json").read_text())
    from hybridmatch.search import returned_set

    assert info["set"] == pytest.approx(returned_set(Archive.load(out / "runs" / "cma" / "t1" / "s1" / "archive.jsonl").entries, toy_spec.space), rel=1e-4)  # the archive rounds fingerprints
    # one run of 20 renders; the budget-5 row is the best-loss candidate among its first 5 renders
    archive = Archive.load(out / "runs" / "cma" / "t1" / "s1" / "archive.jsonl")
    assert len(archive) == 20
    first5 = min(archive.entries[:5], key=lambda e: e.loss)
    row = next(r for r in rows if (r["strategy"], r["target"], r["seed"], r["budget"]) == ("cma", "t1", "1", "5"))
    assert float(row["mss"]) == pytest.approx(first5.objectives["mss"], abs=1e-4)
    assert float(row["loss"]) >= float(next(r for r in rows if (r["strategy"], r["target"], r["seed"], r["budget"]) == ("cma", "t1", "1", "20"))["loss"])
    # resume: only the run whose done.json is gone is redone, and the tables come out the same
    done = sorted((out / "runs").rglob("done.json"))
    stamps = {p: p.stat().st_mtime_ns for p in done}
    (out / "runs" / "random" / "t2" / "s0" / "done.json").unlink()
    again = compare(folder, toy_spec, strategies, budgets=[5, 20], seeds=2, workers=1, out=out, quiet=True)
    changed = [p for p in done if p.stat().st_mtime_ns != stamps[p]]
    assert changed == [out / "runs" / "random" / "t2" / "s0" / "done.json"]
    compare(folder, toy_spec, strategies, budgets=[5, 20], seeds=2, workers=1, out=out, quiet=True, report_only=True)
    rerun = list(csv.DictReader((out / "runs.csv").open()))
    drop = lambda rs: [{k: v for k, v in r.items() if k != "wall_s"} for r in rs]  # noqa: E731
    assert drop(rerun) == drop(rows)  # deterministic: the redone run scored exactly as before
    assert "## budget 20" in again
    # a changed definition under the same name is not mixed with runs made under the old one
    import dataclasses

    held = dataclasses.replace(strategies[1], optimizer=dataclasses.replace(strategies[1].optimizer, hold=0.5))
    with pytest.raises(ConfigError, match="another definition of strategy 'cma'"):
        compare(folder, toy_spec, [strategies[0], held], budgets=[5, 20], seeds=2, workers=1, out=out, quiet=True)
    # runs made under another synth config (here another sample rate) are not mixed in either
    assert json.loads(done[0].read_text())["synth"] == toy_spec.key[:16]
    with pytest.raises(ConfigError, match="another synth config"):
        compare(folder, dataclasses.replace(toy_spec, sample_rate=22050), strategies, budgets=[5, 20], seeds=2, workers=1, out=out, quiet=True)


def test_compare_will_not_mix_runs_of_a_retrained_checkpoint(tmp_path, toy_spec):
    """A retrained checkpoint keeps its file name and the strategy's definition, so compare records
    the checkpoint's hash with each run and refuses to resume across a changed one."""
    import dataclasses

    from hybridmatch.compare import compare
    from hybridmatch.ml.proposer import shipped_checkpoint

    folder = tmp_path / "targets"
    folder.mkdir()
    write(folder / "t1.wav", sine(220, 0.4) + sine(660, 0.4, amp=0.2))
    ckpt = tmp_path / "flow.pt"
    shutil.copy(shipped_checkpoint("toy"), ckpt)
    cnf = load_strategy(ROOT / "strategies" / "cnf-only.toml")
    cnf = dataclasses.replace(cnf, proposer=dataclasses.replace(cnf.proposer, options={**cnf.proposer.options, "checkpoint": str(ckpt)}))
    out = tmp_path / "cmp"
    compare(folder, toy_spec, [cnf], budgets=[4], seeds=1, workers=1, out=out, quiet=True)
    done = out / "runs" / "cnf-only" / "t1" / "s0" / "done.json"
    recorded = json.loads(done.read_text())["checkpoint"]
    flow, surrogate = recorded.split("+")  # cnf-only ranks its samples with the shipped toy surrogate
    assert flow == hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]
    assert surrogate == hashlib.sha256(shipped_checkpoint("toy", "surrogate").read_bytes()).hexdigest()[:16]
    compare(folder, toy_spec, [cnf], budgets=[4], seeds=1, workers=1, out=out, quiet=True, report_only=True)  # same file: reused
    with ckpt.open("ab") as f:  # "retrained": same path, other bytes
        f.write(b"\0")
    with pytest.raises(ConfigError, match=f"another checkpoint for strategy 'cnf-only' \\(sha256 {re.escape(recorded)}"):
        compare(folder, toy_spec, [cnf], budgets=[4], seeds=1, workers=1, out=out, quiet=True)


def test_the_claims_script_reads_medians_and_paired_wins(tmp_path, capsys):
    """scripts/hybrid_claims.py: medians over shared (target, seed) pairs, paired win rates, and a
    claim marked as failing when the left median is not lower."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hybrid_claims", ROOT / "scripts" / "hybrid_claims.py")
    claims = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claims)
    rows = ["strategy,target,seed,budget,mss,wmfcc"]
    for t, (a, b) in enumerate([(1.0, 2.0), (3.0, 2.5), (2.0, 4.0)]):
        rows += [f"cnf-cma,t{t},0,100,{a},{b}", f"cma,t{t},0,100,{b},{a}", f"cma,t{t},0,500,{a - 0.5},{a}"]
    rows.append("cma,t9,0,100,0.1,0.1")  # no cnf-cma partner: left out of the pairing
    (tmp_path / "runs.csv").write_text("\n".join(rows) + "\n")
    claims.main([str(tmp_path)])
    out = capsys.readouterr().out
    mss = next(line for line in out.splitlines() if "cnf-cma beats cma | mss | cnf-cma@100" in line)
    assert "| 2 / 2.5 | 67% | 3 | yes |" in mss  # medians 2 vs 2.5; wins on t0 and t2
    reach = next(line for line in out.splitlines() if "reaches" in line)
    assert reach.endswith("| **no** |")  # 2 against cma@500's median 1.5
    assert "| cnf-only beats random at 64 | mss | cnf-only@64 | random@64 | not run |" in out


def test_links_to_files_named_like_urls_stay_relative_file_links(tmp_path):
    """A target named ``javascript:alert(1).wav`` or with a quote in its name must not become a live
    URL or break out of the ``href`` attribute of ``index.html``."""
    import html

    rows = [{"file": name, "status": "done", "report": f"{Path(name).stem}/report.html", "mss": 1.0, "wmfcc": 2.0, "rms_cosine": 0.9,
             "renders": 4, "wall_s": 1.0} for name in ("javascript:alert(1).wav", 'a"onmouseover="x.wav')]
    page = write_index(tmp_path, rows).read_text()
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page)]
    assert hrefs == ["./javascript%3Aalert%281%29/report.html", "./a%22onmouseover%3D%22x/report.html"]


def test_a_target_stem_that_cannot_name_a_folder_needs_out(tmp_path, monkeypatch):
    """``...wav`` has the stem ``..``: the default output folder would be the current one's parent."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "t.wav", sine(220, 0.4))
    (tmp_path / "t.wav").rename(tmp_path / "...wav")
    result = CliRunner().invoke(main, ["run", "...wav", "--synth", "toy", "--budget", "4", "--quiet"])
    assert result.exit_code == 2 and "give --out" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["...wav"]
