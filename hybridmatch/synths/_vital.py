"""Vital through the ``vita`` package (the real Vital engine, headless).

The base patch is Vital's init preset, plus:

- the config's ``[fixed]`` control values (e.g. oscillator random phase off, so renders repeat);
- a multi-frame "basic shapes" wavetable (sine → triangle → saw → square across ``wave_frame``)
  installed into every oscillator through the preset JSON, because the init wavetable has one frame;
- the config's ``[[meta.routings]]``, connected in order, so routing ``i`` owns ``modulation_{i}_amount``.
  A routing whose source is ``"@param"`` takes its source from that choice parameter at render time.

Vital keeps state between notes, which would make a render depend on the renders before it:

- parameter smoothing glides from the previous patch's values: every render starts with 300 ms of
  silence (no note) after the values are set, so the glide has finished before the note;
- the chorus LFO phase and the delay buffer survive ``load_json`` and reset (measured). A config lists
  such controls in ``meta.stateful``; when one is non-zero the engine is rebuilt from the base preset
  (about 60 ms more). ``vital-simple`` keeps chorus and delay off so it never pays that.

Reverb, unison and oscillators start clean once random phase and reverb chorus are off, but not
everything does: about half of the prior's patches render differently after a particular run of other
patches, by up to several MSS (results/journal.md, "Vital's render state").
The cause is not pinned down (most likely voice state: an envelope or filter of a reused voice).
Two ways out:

- the option ``fresh = true`` (config ``vital-fresh``, which extends ``vital-simple``) builds a new
  engine for every render: renders are exact, at about twice the cost (`bench-render --config vital-fresh`;
  a search under it did no better per render, results/journal.md);
- without it, ``run`` renders its shortlist again on a new instance each and ranks the returned set
  by those scores (``render.verify_units``), so what it writes and reports is the preset's sound as loaded.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, SynthError
from ..space import Native, ParamSpace
from . import midi_velocity

WAVE_SIZE = 2048
PRE_ROLL = 0.3  # seconds of silence rendered before each note (smoothing settles; measured)
SHAPES = ("sine", "triangle", "saw", "square")


def _shape(name: str) -> np.ndarray:
    phase = np.arange(WAVE_SIZE) / WAVE_SIZE
    if name == "sine":
        wave = np.sin(2 * np.pi * phase)
    elif name == "triangle":
        wave = 1.0 - 4.0 * np.abs(((phase + 0.25) % 1.0) - 0.5)
    elif name == "saw":
        wave = 2.0 * ((phase + 0.5) % 1.0) - 1.0
    else:
        wave = np.where(phase < 0.5, 1.0, -1.0)
    return wave.astype("<f4")


def basic_shapes_wavetable(n_keyframes: int = 16) -> dict[str, Any]:
    """A Vital wavetable JSON morphing sine → triangle → saw → square across the frame range.

    The crossfades are precomputed into ``n_keyframes`` keyframes with interpolation off: Vital's
    own keyframe interpolation makes ``load_json`` about 2x slower, and every render reloads."""
    keyframes = []
    for position in np.linspace(0, 255, n_keyframes):
        x = position / 255 * (len(SHAPES) - 1)
        i = min(int(x), len(SHAPES) - 2)
        w = x - i
        wave = ((1 - w) * _shape(SHAPES[i]) + w * _shape(SHAPES[i + 1])).astype("<f4")
        keyframes.append({"position": int(round(position)), "wave_data": base64.b64encode(wave.tobytes()).decode("ascii")})
    return {
        "author": "hybridmatch",
        "full_normalize": True,
        "remove_all_dc": True,
        "name": "Basic Shapes",
        "version": "1.0.7",
        "groups": [
            {"components": [{"type": "Wave Source", "interpolation": 1, "interpolation_style": 0, "keyframes": keyframes}]}
        ],
    }


class VitalSynth:
    def __init__(self, space: ParamSpace, *, sample_rate: int = 44100, velocity: float = 0.8, fresh: bool = False) -> None:
        try:
            import vita
        except ImportError:
            raise SynthError("the vital backend needs the 'vita' package: pip install vita") from None
        self.space = space
        self.sample_rate = sample_rate
        self.velocity = velocity
        self._synth = vita.Synth()
        self._synth.set_sample_rate(float(sample_rate))
        controls = self._synth.get_controls()
        self.routings: list[dict[str, str]] = [dict(r) for r in space.meta.get("routings", [])]
        dynamic_sources = {r["source"][1:] for r in self.routings if r["source"].startswith("@")}
        for name in list(space.fixed) + space.names:
            if name not in controls and name not in dynamic_sources:
                raise ConfigError(f"vital has no control named {name!r}")
        for name, value in space.fixed.items():
            controls[name].set(float(value))
        preset = json.loads(self._synth.to_json())
        if space.meta.get("wavetable", "basic_shapes") == "basic_shapes":
            preset["settings"]["wavetables"] = [basic_shapes_wavetable() for _ in preset["settings"]["wavetables"]]
        if not self._synth.load_json(json.dumps(preset)):
            raise SynthError("vita refused the base preset")
        self._dynamic = bool(dynamic_sources)
        if not self._dynamic:
            self._connect({})
        self._base = self._synth.to_json()
        stateful = space.meta.get("stateful")
        self._stateful: list[str] | None = None if stateful is None or fresh else [str(k) for k in stateful]

    def _fixed_or_zero(self, name: str) -> float:
        return float(self.space.fixed.get(name, 0.0))

    def _connect(self, values: Mapping[str, Native]) -> None:
        for i, routing in enumerate(self.routings, start=1):
            source = routing["source"]
            if source.startswith("@"):
                source = str(values[source[1:]])
            if not self._synth.connect_modulation(source, routing["destination"]):
                raise SynthError(f"vital could not route {source} -> {routing['destination']} (slot {i})")

    def _engine(self) -> Any:
        """A new engine loaded with the base preset this instance was built with."""
        import vita

        engine = vita.Synth()
        engine.set_sample_rate(float(self.sample_rate))
        engine.load_json(self._base)
        return engine

    def renewed(self) -> VitalSynth:
        """A new instance, as a new build would be, made from this one: a new engine loaded with the
        base preset. It renders what a new build renders, whatever this one rendered before, in
        0.11 s instead of 0.19 s, since the wavetables are not made and the controls not checked again."""
        twin = copy.copy(self)
        twin._synth = self._engine()
        return twin

    def _apply(self, values: Mapping[str, Native]) -> None:
        if self._stateful is None or any(float(values.get(k, self._fixed_or_zero(k))) != 0.0 for k in self._stateful):
            self._synth = self._engine()
        if self._dynamic:
            self._synth.clear_modulations()
            self._connect(values)
        controls = self._synth.get_controls()
        for name, value in values.items():
            control = controls.get(name)
            if control is not None:
                control.set(float(value))

    def render(self, values: Mapping[str, Native], *, note: int, duration: float, seconds: float, velocity: int | None = None) -> np.ndarray:
        self._apply(values)
        self._synth.render(int(note), 0.0, 0.0, PRE_ROLL)  # let parameter smoothing settle
        level = self.velocity if velocity is None else midi_velocity(velocity) / 127.0  # vita takes velocity in [0, 1]
        audio = self._synth.render(int(note), level, float(duration), float(seconds))
        return np.asarray(audio, dtype=np.float32)

    def export(self, values: Mapping[str, Native], path: str | Path) -> Path:
        self._apply(values)
        preset = json.loads(self._synth.to_json())
        preset["preset_name"] = Path(path).stem
        preset["author"] = "hybridmatch"
        path = Path(path)
        path.write_text(json.dumps(preset))
        return path

    def read_preset(self, path: str | Path) -> dict[str, float]:
        """Loads a ``.vital`` file into this instance and returns the searched controls' values."""
        if not self._synth.load_preset(str(path)):
            raise SynthError(f"vita could not load {path}")
        controls = self._synth.get_controls()
        return {name: float(controls[name].value()) for name in self.space.names if name in controls}
