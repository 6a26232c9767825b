"""``report.html``: one self-contained page per run, and an index page per batch.

Everything is embedded (spectrogram and scatter PNGs and 16-bit WAV players as data URIs), so the
page opens offline and can be mailed around; only the preset links point at the files next to it.
The images are drawn with matplotlib (Agg), the log-mel spectrograms with librosa.
"""

from __future__ import annotations

import base64
import html
import io
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write

__all__ = ["write_report", "write_index"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:1em}
.card{border:1px solid #ddd;border-radius:6px;padding:.5em}.card img{width:100%;height:140px}.card audio{width:100%}
.spec{position:relative}.spec svg{position:absolute;left:0;top:0;width:100%;height:140px}.spec rect{fill:none;stroke:#4ef;stroke-width:3}
.target{background:#f6faff}.muted{color:#777;font-size:.85em}.bad{color:#a00}
td.ch{background:#ffe08a;font-weight:bold}td.mv{background:#eef4ff}
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _wav(audio: np.ndarray, sample_rate: int) -> str:
    import soundfile as sf

    buf = io.BytesIO()
    pcm = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    sf.write(buf, pcm.T, sample_rate, format="WAV", subtype="PCM_16")  # what every browser decodes
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def _spectrogram(audio: np.ndarray, sample_rate: int) -> str:
    """A log-mel spectrogram as a PNG drawn straight from the array (time left to right, low
    frequencies at the bottom, -80 to 0 dB below the clip's peak); the card's caption gives the
    axes. A matplotlib figure with axes per clip took ten times as long."""
    from matplotlib import image

    from .spectral import melspectrogram, power_to_db

    mono = np.asarray(audio, dtype=np.float32).mean(axis=0)
    mel = melspectrogram(mono, sample_rate, n_fft=2048, hop_length=256, n_mels=96)
    db = power_to_db(mel + 1e-10, ref=max(float(mel.max()), 1e-10), top_db=80.0)
    buf = io.BytesIO()
    image.imsave(buf, db[::-1], cmap="magma", vmin=-80.0, vmax=0.0, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _pareto(archive_objectives: np.ndarray, chosen: Sequence[dict[str, Any]], keys: tuple[str, str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    if len(archive_objectives):
        ax.scatter(archive_objectives[:, 0], archive_objectives[:, 1], s=6, c="0.7", label=f"archive ({len(archive_objectives)} renders)")
    xs = [c["objectives"][keys[0]] for c in chosen]
    ys = [c["objectives"][keys[1]] for c in chosen]
    ax.scatter(xs, ys, s=40, c="C3", edgecolors="k", label="returned set", zorder=3)
    for c, x, y in zip(chosen, xs, ys, strict=True):
        ax.annotate(str(c["rank"]), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(keys[0].upper())
    ax.set_ylabel(keys[1].upper())
    ax.set_xscale("symlog", linthresh=1e-2)
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.legend(fontsize=8)
    ax.set_title("Pareto view (lower is better)", fontsize=10)
    return _png(fig)


def _archive_points(path: Path, keys: tuple[str, str], archive: Any = None) -> np.ndarray:
    """Both objectives of every successful render: from ``archive`` when given, else streamed from ``path``."""
    from .search import read_objectives

    if archive is None:
        return read_objectives(path, keys) if path.exists() else np.zeros((0, 2))
    return np.array([[e.objectives[keys[0]], e.objectives[keys[1]]] for e in archive.entries if e.error is None]).reshape(-1, 2)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _href(path: str) -> str:
    """A relative link to a file the run wrote: percent-encoded and prefixed with ``./``, so no
    file name (``javascript:...``, ``a"b``) becomes a live URL scheme or breaks out of the attribute."""
    return html.escape("./" + urllib.parse.quote(path), quote=True)


def _clips(out: Path, res: Mapping[str, Any], audio: Mapping[str, np.ndarray] | None, sample_rate: int | None) -> tuple[dict[str, np.ndarray], int]:
    """The target and each returned patch's render: as handed in, else read from ``renders/``."""
    import soundfile as sf

    clips: dict[str, np.ndarray] = dict(audio or {})
    rate = sample_rate
    for name in ["target", *[Path(c["audio"]).stem for c in res["candidates"]]]:
        if name not in clips:
            data, rate = sf.read(out / "renders" / f"{name}.wav", dtype="float32", always_2d=True)
            clips[name] = data.T
    return clips, int(rate or 44100)


def _cards(res: Mapping[str, Any], clips: Mapping[str, np.ndarray], rate: int) -> str:
    cards = []
    for c in [None, *res["candidates"]]:
        name = "target" if c is None else Path(c["audio"]).stem
        title = f"target: {res['target']}" if c is None else f"#{c['rank']}  MSS {c['objectives']['mss']:.2f}  wMFCC {c['objectives']['wmfcc']:.1f}"
        link = "" if c is None else f'<div><a href="{_href(c["preset"])}">{html.escape(c["preset"])}</a> <span class="muted">{html.escape(c.get("origin", ""))}</span></div>'
        seconds = clips[name].shape[-1] / rate
        axes = f"log-mel, 0-{seconds:.1f} s, up to {rate / 2000:.0f} kHz, 80 dB range"
        notes = _notes_overlay(res["phrase"]["notes"], seconds, rate) if c is None and "phrase" in res else ""
        cards.append(f'<div class="card{" target" if c is None else ""}"><b>{html.escape(title)}</b>'
                     f'<div class="spec"><img alt="log-mel spectrogram of {html.escape(name)}" src="{_spectrogram(clips[name], rate)}">{notes}</div>'
                     f'<div class="muted">{axes}</div><audio controls preload="auto" src="{_wav(clips[name], rate)}"></audio>{link}</div>')
    return "".join(cards)


def _notes_overlay(notes: Sequence[Mapping[str, Any]], seconds: float, rate: int) -> str:
    """The transcription over the target's spectrogram (an image without axes): one box per note at
    its pitch's mel height, from its onset to its release, as an SVG laid over the image."""
    import librosa

    top = float(librosa.hz_to_mel(rate / 2))
    boxes = []
    for n in notes:
        y = 1000.0 * (1.0 - float(librosa.hz_to_mel(librosa.midi_to_hz(n["pitch"]))) / top)
        x, width = 1000.0 * n["onset"] / seconds, 1000.0 * n["duration"] / seconds
        boxes.append(f'<rect x="{x:.1f}" y="{y - 12:.1f}" width="{width:.1f}" height="24"><title>MIDI {n["pitch"]}</title></rect>')
    return f'<svg viewBox="0 0 1000 1000" preserveAspectRatio="none">{"".join(boxes)}</svg>'


def _phrase(res: Mapping[str, Any]) -> str:
    """What a phrase match played: its notes, where they came from, and the renders they cost."""
    if "phrase" not in res:
        return ""
    from .phrase import note_name

    phrase = res["phrase"]
    rows = "".join(f'<tr><td>{i}</td><td class="l">{note_name(n["pitch"])}</td><td>{n["pitch"]}</td><td>{n["onset"]:.3f}</td>'
                   f'<td>{n["duration"]:.3f}</td><td>{n["velocity"]}</td></tr>' for i, n in enumerate(phrase["notes"], start=1))
    return (f'<h2>Phrase</h2><p class="muted">{len(phrase["notes"])} notes ({html.escape(phrase["source"])}, boxed on the target\'s '
            f'spectrogram; <a href="{_href(phrase["midi"])}">{html.escape(phrase["midi"])}</a>). Every patch plays all of them: '
            f'{phrase["renders_each"]} synth renders per candidate, {phrase["synth_renders"]} in all. The flow proposed from the '
            f'clearest note, MIDI {res["note"]} held {res["duration"]:.2f} s.</p>'
            f'<table><tr><th>#</th><th class="l">note</th><th>MIDI</th><th>onset s</th><th>held s</th><th>velocity</th></tr>{rows}</table>')


def _objective_rows(res: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{c['rank']}</td><td>{c['objectives']['mss']:.3f}</td><td>{c['objectives']['wmfcc']:.3f}</td>"
        f"<td>{c['objectives']['sot']:.4f}</td><td>{c['rms_cosine']:.4f}</td><td>{c.get('mfccd', float('nan')):.3f}</td>"
        f"<td>{c['search_loss']:.4f}</td><td class='l'>{html.escape(c.get('origin', ''))}</td></tr>"
        for c in res["candidates"]
    )
    ref = res.get("reference")
    if ref:
        o = ref["objectives"]
        rows += (f"<tr class='muted'><td>known answer</td><td>{o['mss']:.3f}</td><td>{o['wmfcc']:.3f}</td><td>{o['sot']:.4f}</td>"
                 f"<td>{ref['rms_cosine']:.4f}</td><td>{ref['mfccd']:.3f}</td><td></td><td class='l'>true patch re-rendered with this analysis</td></tr>")
    return rows


def _param_table(res: Mapping[str, Any]) -> str:
    """Every parameter of every recipe; a cell is marked where the recipe differs from #1: a discrete
    choice (``ch``) or a number moved by at least 5% of its range (``mv``)."""
    names = list(res["candidates"][0]["params"]) if res["candidates"] else []
    head = "".join(f"<th>#{c['rank']}<br><a href=\"{_href(c['preset'])}\">preset</a></th>" for c in res["candidates"])
    marks = [_marks(c) for c in res["candidates"]]
    rows = "".join(
        f"<tr><td class='l'>{html.escape(n)}</td>"
        + "".join(f"<td{m.get(n, '')}>{_fmt(c['params'].get(n))}</td>" for c, m in zip(res["candidates"], marks, strict=True)) + "</tr>"
        for n in names
    )
    return f'<table><tr><th class="l">parameter</th>{head}</tr>{rows}</table>'


def _marks(candidate: Mapping[str, Any]) -> dict[str, str]:
    differs = candidate.get("differs") or {}
    return {**{m["param"]: " class='mv'" for m in differs.get("moved", [])}, **{c["param"]: " class='ch'" for c in differs.get("choices", [])}}


def _named(change: Mapping[str, Any]) -> str:
    """A changed parameter's name, with #1's parameter it was lined up with where slots were swapped."""
    against = f" (against #1's {html.escape(change['against'])})" if change.get("against") else ""
    return html.escape(change["param"]) + against


def _differences(res: Mapping[str, Any], shown: int = 6) -> str:
    """One row per recipe after the first: its discrete choices that differ from recipe #1 and the
    numbers that moved most, in native units (values as #1 &rarr; this recipe)."""
    rows = []
    for c in res["candidates"][1:]:
        d = c.get("differs") or {}
        choices = ", ".join(f"<b>{_named(x)}</b> {_fmt(x['first'])} &rarr; {_fmt(x['this'])}" for x in d.get("choices", [])) or "same"
        moved = d.get("moved", [])
        numbers = ", ".join(f"{_named(x)} {_fmt(x['first'])} &rarr; {_fmt(x['this'])}" for x in moved[:shown])
        more = f" and {len(moved) - shown} more" if len(moved) > shown else ""
        order = " (its slots swapped to line up with #1's)" if d.get("reordered") else ""
        rows.append(f"<tr><td>#{c['rank']}</td><td>{c['objectives']['mss']:.2f}</td><td>{c.get('pareto_front', '')}</td>"
                    f"<td class='l'>{choices}</td><td class='l'>{numbers or 'none'}{more}{order}</td></tr>")
    if not rows:
        return "<p class='muted'>One recipe came back.</p>"
    return ("<table><tr><th>recipe</th><th>MSS</th><th>Pareto front</th><th class='l'>discrete choices against #1</th>"
            f"<th class='l'>largest moves against #1</th></tr>{''.join(rows)}</table>")


def _status(res: Mapping[str, Any]) -> str:
    status = '<p class="bad">Interrupted: this is the best set found before the stop.</p>' if res.get("interrupted") else ""
    status += "".join(f'<p class="bad">Skipped {html.escape(why)}</p>' for why in res.get("skipped", []))
    analysis = res.get("analysis") or {}
    if analysis.get("refined"):
        est, tried = analysis["estimated"], len(analysis["hypotheses"])
        status += (f'<p class="muted">Estimated note {est["note"]}, held {est["duration"]:.2f} s; {tried} hypotheses rendered '
                   f'({analysis["renders"]} probe renders, {analysis["spent"]} of them outside the archive), best kept.</p>')
    return status


def write_report(out_dir: str | Path, *, audio: Mapping[str, np.ndarray] | None = None, sample_rate: int | None = None,
                 keys: tuple[str, str] = ("mss", "wmfcc"), results: Mapping[str, Any] | None = None, archive: Any = None) -> Path:
    """Writes ``out_dir/report.html`` from ``results.json``, the renders and ``archive.jsonl``.

    ``audio`` (``"target"``, ``"01"``, ...), ``results`` and ``archive`` avoid re-reading what the
    engine has just written."""
    out = Path(out_dir)
    res = dict(results) if results is not None else json.loads((out / "results.json").read_text())
    clips, rate = _clips(out, res, audio, sample_rate)
    scatter = _pareto(_archive_points(out / "archive.jsonl", keys, archive), res["candidates"], keys)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hybridmatch: {html.escape(res['target'])}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(res['target'])} &rarr; {html.escape(res['synth'])} / {html.escape(res['config'])}</h1>
<p>Strategy <b>{html.escape(res['strategy'])}</b>, {res['renders']} of {res['budget']} renders in {res['wall_s']:.1f} s
(seed {res['seed']}); note {res['note']} ({html.escape(str(res.get('note_source', '')))}), held {res['duration']:.2f} s
({html.escape(str(res.get('duration_source', '')))}); {res.get('failed_renders', 0)} failed renders.</p>{_status(res)}
<h2>Target and returned recipes</h2>
<p class="muted">{res.get('recipes', len(res['candidates']))} recipes: each a different way of making the sound (different discrete
choices or settings, and an audibly different render), each the best patch found for it, ranked by loss.</p>
<div class="grid">{_cards(res, clips, rate)}</div>
{_phrase(res)}
<h2>Objectives</h2>
<p class="muted">MSS, wMFCC, SOT and MFCCD: lower is better. RMS similarity is the cosine similarity of the RMS envelopes,
shown as it is (higher is better; the search minimises 1 &minus; it).</p>
<table><tr><th>rank</th><th>MSS</th><th>wMFCC</th><th>SOT</th><th>RMS similarity</th><th>MFCCD</th><th>search loss</th><th class="l">origin</th></tr>{_objective_rows(res)}</table>
<h2>Pareto view</h2>
<img alt="Pareto scatter of {keys[0]} against {keys[1]}" src="{scatter}">
<h2>How the recipes differ</h2>
{_differences(res)}
<h2>Parameters (native units)</h2>
{_param_table(res)}
</body></html>
"""
    return atomic_write(out / "report.html", page.encode())


def write_index(out_dir: str | Path, rows: Sequence[Mapping[str, Any]], title: str = "hybridmatch batch") -> Path:
    """``index.html`` for a batch: one row per target with its best scores and a link to its report."""
    out = Path(out_dir)
    body = []
    for r in rows:
        link = f'<a href="{_href(r["report"])}">{html.escape(r["file"])}</a>' if r.get("report") else html.escape(r["file"])
        if r.get("status") == "done":
            body.append(f"<tr><td class='l'>{link}</td><td>done</td><td>{r['mss']:.3f}</td><td>{r['wmfcc']:.3f}</td>"
                        f"<td>{r['rms_cosine']:.3f}</td><td>{r['renders']}</td><td>{r['wall_s']:.1f}</td></tr>")
        else:
            body.append(f"<tr><td class='l'>{link}</td><td class='bad'>{html.escape(str(r.get('status')))}</td>"
                        f"<td class='l' colspan='5'>{html.escape(str(r.get('error', '')))}</td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<table><tr><th class="l">target</th><th>status</th><th>best MSS</th><th>best wMFCC</th><th>RMS similarity</th><th>renders</th><th>wall s</th></tr>
{''.join(body)}</table></body></html>
"""
    return atomic_write(out / "index.html", page.encode())
