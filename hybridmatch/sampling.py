"""Targets with a known answer: prior patches rendered by ``hybridmatch sample``, and that answer
read back for a run (``<stem>.json`` beside the target)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write, write_json, write_wav
from .errors import ConfigError, TargetError
from .objectives import TargetFeatures, score
from .synths import SynthSpec

__all__ = ["known_answer", "noise_floor", "sample_patch", "save_phrase", "save_sample"]

PHRASE_RANGE = (40, 76)  # the keys a sampled phrase plays (E2-E5)
PHRASE_TAIL = 1.0  # seconds rendered after the last note's release


def sample_patch(
    spec: SynthSpec, *, seed: int, note: int, duration: float, seconds: float, min_peak_db: float = -40.0, tries: int = 100
) -> tuple[np.ndarray, dict[str, Any]]:
    """Renders a random patch from the config's priors, redrawing near-silent ones.

    Returns ``(audio (channels, n), native values)``."""
    synth = spec.build()
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        unit = spec.space.sample(rng, 1)[0]
        values = spec.space.to_native(unit)
        audio = synth.render(values, note=note, duration=duration, seconds=seconds)
        peak = float(np.abs(audio).max())
        if np.all(np.isfinite(audio)) and peak > 10 ** (min_peak_db / 20):
            return audio, values
    raise ConfigError(f"no audible patch in {tries} draws from the priors of {spec.space.name}")


def noise_floor(spec: SynthSpec, synth: Any, values: dict[str, Any], audio: np.ndarray, *, note: int, duration: float, seconds: float) -> dict[str, float]:
    """The objectives between ``audio`` and the same patch rendered again on ``synth`` after five
    other prior patches (as a search worker would): what a perfect match can score."""
    rng = np.random.default_rng(0)
    for unit in spec.space.sample(rng, 5):
        synth.render(spec.space.to_native(unit), note=note, duration=duration, seconds=seconds)
    again = synth.render(values, note=note, duration=duration, seconds=seconds)
    return {k: round(v, 5) for k, v in score(TargetFeatures(audio, spec.sample_rate), again).items()}


def save_sample(spec: SynthSpec, *, seed: int, note: int, duration: float, seconds: float, out: str | Path) -> list[Path]:
    """Writes a prior-sampled patch's render (``out``), its native preset and ``<stem>.json``
    (synth, config, seed, note, duration, params) so that the target's true answer is known."""
    audio, values = sample_patch(spec, seed=seed, note=note, duration=duration, seconds=seconds)
    out = Path(out)
    wav = write_wav(out, audio, spec.sample_rate)
    synth = spec.build()
    with tempfile.TemporaryDirectory() as tmp:
        preset = synth.export(values, Path(tmp) / f"p{spec.preset_ext}").read_bytes()
    preset_path = atomic_write(out.with_suffix(spec.preset_ext if spec.preset_ext != ".json" else ".preset.json"), preset)
    meta = {"synth": spec.backend, "config": spec.space.name, "seed": seed, "note": note, "duration": duration,
            "seconds": seconds, "params": values, "noise_floor": noise_floor(spec, synth, values, audio, note=note, duration=duration, seconds=seconds)}
    meta_path = write_json(out.with_suffix(".json"), meta)
    return [wav, preset_path, meta_path]


def save_phrase(spec: SynthSpec, *, seed: int, count: int, out: str | Path) -> list[Path]:
    """Writes a prior-sampled patch playing a random ``count``-note line over 2-8 s (``out``), the
    line as ``<stem>.mid``, the native preset and ``<stem>.json`` (synth, config, seed, the notes and
    the params): a phrase whose transcription and patch are known."""
    from .phrase import random_line, render_phrase, write_midi

    if not 1 <= count <= 64:
        raise ConfigError(f"--phrase takes 1 to 64 notes, not {count}")
    rng = np.random.default_rng([seed, 0x9A])
    notes = random_line(rng, count, low=PHRASE_RANGE[0], high=PHRASE_RANGE[1], seconds=float(rng.uniform(2.0, 8.0)))
    _, values = sample_patch(spec, seed=seed, note=int(np.median([n.pitch for n in notes])), duration=0.5, seconds=1.0)
    synth = spec.build()
    seconds = max(n.end for n in notes) + PHRASE_TAIL
    out = Path(out)
    wav = write_wav(out, render_phrase(synth, values, notes, seconds=seconds), spec.sample_rate)
    midi = write_midi(notes, out.with_suffix(".mid"))
    with tempfile.TemporaryDirectory() as tmp:
        preset = synth.export(values, Path(tmp) / f"p{spec.preset_ext}").read_bytes()
    preset_path = atomic_write(out.with_suffix(spec.preset_ext if spec.preset_ext != ".json" else ".preset.json"), preset)
    meta = {"synth": spec.backend, "config": spec.space.name, "seed": seed, "phrase": [vars(n) for n in notes], "seconds": seconds,
            "params": values}
    return [wav, midi, preset_path, write_json(out.with_suffix(".json"), meta)]


def known_answer(target: str | Path, spec: SynthSpec) -> dict[str, Any] | None:
    """The true params of a target written by ``hybridmatch sample`` (``<stem>.json`` next to it) for
    this synth and config, or for the config whose voice this one plays (``[meta] voice_of``), or None. A ``<stem>.json`` that is not JSON is a TargetError: it is read
    before anything is matched, so the user can fix or remove it without losing a run."""
    meta_path = Path(target).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
    except OSError:
        return None
    except ValueError as exc:  # also a file that is not UTF-8
        raise TargetError(f"{meta_path}: not a valid JSON file ({str(exc).splitlines()[0]}); fix or remove it") from None
    if not isinstance(meta, dict):
        return None
    voice_of = spec.space.meta.get("voice_of")  # a config that plays another config's voice on another engine
    if (meta.get("synth"), meta.get("config")) != (spec.backend, spec.space.name) and not (voice_of and meta.get("config") == voice_of):
        return None
    params = meta.get("params")
    if not isinstance(params, dict) or set(params) != set(spec.space.names):
        return None
    try:  # a hand-edited file may hold values the space cannot take; then there is no known answer
        spec.space.to_unit(params)
    except Exception:
        return None
    return params
