"""``hybridmatch crosscheck``: do the presets a run wrote sound the same when another engine loads them?

For every finished run under the given folders, each returned preset file is loaded the way a user
would load it, rendered at the run's note and length, and compared with the render the run scored
(``renders/NN.wav``):

- a ``.vstpreset`` is loaded into a fresh instance of the ``vst3`` synth given (nothing else is set);
- a DX7 ``.syx`` voice is decoded and sent to a synth that plays DX7 voices (the Dexed VST3 with
  ``voice = "dx7"``), so a voice found with ``dexed-py`` is checked in the plugin.

The distance is the log-mel L1 in dB (128 mels, 2048-point frames, 512 hop; each signal in dB below
its own peak, floored at -80 dB), which is level-matched by construction (the Dexed plugin's own
output is 18 dB below ``dexed-py``'s; its config scales it back). MSS (the search's own metric) and
the largest sample difference after level matching are reported beside it.
"""

from __future__ import annotations

import json
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write
from .audio import load_audio
from .errors import ConfigError
from .objectives import mss
from .synths import SynthSpec

__all__ = ["crosscheck", "logmel_l1"]

FLOOR_DB = 80.0


def _logmel_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    import librosa

    mono = np.asarray(audio, dtype=np.float64).reshape(-1, np.asarray(audio).shape[-1]).mean(axis=0)
    power = librosa.feature.melspectrogram(y=mono, sr=sample_rate, n_fft=2048, hop_length=512, n_mels=128)
    return np.asarray(librosa.power_to_db(power, ref=np.max, top_db=FLOOR_DB))


def logmel_l1(a: np.ndarray, b: np.ndarray, sample_rate: int = 44100) -> float:
    """Mean |dB difference| of two renders' log-mel spectrograms, each relative to its own peak."""
    n = min(np.asarray(a).shape[-1], np.asarray(b).shape[-1])
    return float(np.mean(np.abs(_logmel_db(np.asarray(a)[..., :n], sample_rate) - _logmel_db(np.asarray(b)[..., :n], sample_rate))))


def _peak_diff(a: np.ndarray, b: np.ndarray) -> float:
    """The largest sample difference after scaling ``b`` to ``a``'s RMS, relative to ``a``'s peak."""
    x = np.asarray(a, np.float64).mean(axis=0)
    y = np.asarray(b, np.float64).mean(axis=0)
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    scale = np.sqrt(np.mean(x**2) / max(np.mean(y**2), 1e-20))
    return float(np.max(np.abs(x - scale * y)) / max(np.max(np.abs(x)), 1e-12))


def _runs(folders: Sequence[Path]) -> list[Path]:
    missing = [f for f in folders if not Path(f).exists()]
    if missing:
        raise ConfigError(f"not found: {missing[0]}")
    found = sorted({p.parent for folder in folders for p in Path(folder).rglob("results.json")})
    if not found:
        raise ConfigError(f"no finished runs (results.json) under {', '.join(map(str, folders))}")
    return found


def _check_one(synth: Any, run: Path, result: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any] | None:
    preset = run / candidate["preset"]
    note, duration, seconds = int(result["note"]), float(result["duration"]), float(result["seconds"])
    if preset.suffix == ".vstpreset":
        audio = synth.render_preset(preset, note=note, duration=duration, seconds=seconds)
    elif preset.suffix == ".syx" and getattr(synth, "voice", None) is not None:
        from .synths._dexed import read_voice_syx

        values = synth.voice.values_from_sysex(read_voice_syx(preset))
        audio = synth.render(values, note=note, duration=duration, seconds=seconds)
    else:
        return None
    scored, rate = load_audio(run / candidate["audio"])
    return {"run": run, "preset": preset.name, "l1_db": logmel_l1(scored, audio, rate), "mss": mss(scored, audio, sample_rate=rate),
            "peak_diff": _peak_diff(scored, audio)}


def crosscheck(folders: Sequence[Path], spec: SynthSpec, *, out: str | Path | None = None, command: str = "") -> str:
    """Checks every returned preset of the runs under ``folders`` on ``spec``'s synth; a markdown table."""
    synth = spec.build()
    rows = []
    for run in _runs(folders):
        result = json.loads((run / "results.json").read_text())
        for candidate in result.get("candidates", []):
            if candidate.get("preset") and candidate.get("audio"):
                row = _check_one(synth, run, result, candidate)
                if row is not None:
                    rows.append({**row, "from": f"{result['synth']} / {result['config']}"})
    if not rows:
        raise ConfigError(f"none of the presets under {', '.join(map(str, folders))} can be loaded by {spec.space.name}")
    lines = [f"# crosscheck: presets played by {spec.space.name}", "",
             f"`{command or 'hybridmatch crosscheck'}` on {platform.node() or 'this machine'}. Each returned preset, loaded by "
             f"{spec.space.name} as a user would load it and rendered at its run's note and length, against the render the run "
             "scored. log-mel L1: dB, 128 mels, each render relative to its own peak (level-matched), floor -80 dB. "
             "peak diff: largest sample difference after RMS matching, over the scored render's peak.", "",
             "| presets from | presets | median log-mel L1 dB | IQR | under 1 dB | worst dB | median MSS | median peak diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for source in sorted({r["from"] for r in rows}):
        group = [r for r in rows if r["from"] == source]
        l1 = np.array([r["l1_db"] for r in group])
        q1, q3 = np.percentile(l1, [25, 75])
        lines.append(f"| {source} | {len(group)} | {np.median(l1):.3f} | {q1:.3f}-{q3:.3f} | {np.mean(l1 < 1.0):.0%} | {l1.max():.2f} | "
                     f"{statistics.median(r['mss'] for r in group):.3f} | {statistics.median(r['peak_diff'] for r in group):.2g} |")
    worst = sorted(rows, key=lambda r: -r["l1_db"])[:5]
    lines += ["", "Largest differences:", "", "| run | preset | log-mel L1 dB | MSS |", "|---|---|---:|---:|"]
    lines += [f"| {r['run'].name} | {r['preset']} | {r['l1_db']:.2f} | {r['mss']:.3f} |" for r in worst]
    text = "\n".join(lines) + "\n"
    if out:
        atomic_write(out, text.encode())
    return text
