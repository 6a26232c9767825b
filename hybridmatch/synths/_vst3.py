"""Any VST3 instrument through pedalboard's ``VST3Plugin``.

Why pedalboard: it hosts VST3 on Linux, macOS and Windows from a pip wheel, takes MIDI as
``(bytes, seconds)`` tuples, converts parameters between the plugin's display units and its
normalised values through the plugin's own text conversion, and reads and writes the plugin state as
``.vstpreset`` bytes (``preset_data``). Published matching work (Hayes et al. 2025, Surge XT) used it.

Contract details that matter for matching:

- Parameter names are pedalboard's Python names (``cutoff_hz``: the name plus its unit). Native
  values are display values: floats in the plugin's units, and the plugin's own strings or booleans for
  discrete parameters. Setting an unknown attribute on a pedalboard plugin silently does nothing, so
  every name in the space is checked against ``plugin.parameters`` when the synth is built.
- A render sends note-on at 0 and note-off at ``duration``, then flushes: all-sound-off and
  all-notes-off, a short silent block, and ``reset()``. The next render therefore starts from the same
  state whatever the previous patch was (tests render A, B, A and compare the two A renders). A phrase
  (``render_notes``) is one render too: its notes as one MIDI sequence.
- Silence costs nothing extra. pedalboard waits up to ``initialization_timeout`` seconds after every
  reset for an instrument to make sound (for plugins that load in the background), so with its
  default of 10 s a silent patch (a level at 0, a closed filter, an off switch) costs 10 s a render and
  10 s a reset instead of milliseconds. Plugins are loaded with ``initialization_timeout = 0``; a plugin
  that really loads resources in the background names the wait in ``[options]``.
- Parameter changes that land only after a block: ``[options] preroll`` (seconds, rounded up to whole
  blocks) starts the note that far into the render and cuts the lead-in, so the first blocks have
  applied every setting.
- Voices that are not parameters: ``[options] voice = "dx7"`` makes the DX7 voice fields of the space
  (named as in the ``dexed`` config) one single-voice sysex message, sent before the note of every
  render, because ``reset=True`` restores only the plugin's parameters and would drop a voice sent
  once. The other names in the space stay plugin parameters. The ``.vstpreset`` holds the voice.
- Hung renders are the pool's business: the config's ``[render] timeout`` makes every render run in a
  worker process that a watchdog kills when one render takes longer (see :mod:`hybridmatch.render`).
- One plugin instance per worker process. The parent never loads the plugin for a search.

``describe`` writes a ParamSpace TOML skeleton for a plugin; it is cached per plugin file (path and
modification time), because enumerating parameter ranges is slow for large plugins.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, SynthError
from ..space import Native, ParamSpace
from . import midi_velocity

__all__ = ["Vst3Synth", "describe", "load_plugin"]

FLUSH_SECONDS = 0.05
_ALL_OFF = [bytes([0xB0 | ch, cc, 0]) for ch in range(16) for cc in (120, 123)]  # all sound off, all notes off


def load_plugin(path: str | Path, initialization_timeout: float = 0.0) -> Any:
    """Loads a VST3 instrument; one clear error when the file is missing or is not an instrument."""
    path = Path(path)
    if not path.exists():
        raise SynthError(f"VST3 plugin not found: {path}")
    try:
        import pedalboard
    except ImportError:
        raise SynthError("the vst3 backend needs pedalboard: pip install pedalboard") from None
    try:
        plugin = pedalboard.load_plugin(str(path), initialization_timeout=float(initialization_timeout))
    except Exception as exc:  # pedalboard raises ImportError/RuntimeError with the host's message
        raise SynthError(f"could not load {path} as a plugin: {str(exc).splitlines()[0]}") from None
    if not getattr(plugin, "is_instrument", False):
        raise SynthError(f"{path} is an effect, not an instrument; hybridmatch needs a synth")
    return plugin


def _voice_codec(name: str, fixed: Mapping[str, Native]) -> Any:
    """The codec behind ``[options] voice``: names to one sysex message."""
    if name == "dx7":
        from ._dexed import Dx7Voice

        return Dx7Voice(fixed)
    raise ConfigError(f"unknown [options] voice {name!r}; known: dx7")


class Vst3Synth:
    """A VST3 instrument. Options: ``plugin`` (path), ``preset`` (base ``.vstpreset`` loaded first),
    ``velocity``, ``buffer_size``, ``channels``, ``initialization_timeout`` (seconds pedalboard waits
    for sound after a reset; 0), ``preroll`` (seconds of lead-in before the note; 0), ``voice``
    (``"dx7"``: the space's DX7 voice fields go to the plugin as sysex) and ``gain_db`` (applied to
    every render, not stored in presets; 0)."""

    def __init__(self, space: ParamSpace, *, sample_rate: int = 44100, plugin: str = "", preset: str | None = None,
                 velocity: int = 100, buffer_size: int = 512, channels: int = 2, initialization_timeout: float = 0.0,
                 preroll: float = 0.0, voice: str = "", gain_db: float = 0.0) -> None:
        if not plugin:
            raise ConfigError("the vst3 backend needs a plugin path: --synth vst3:/path/to/Plugin.vst3 or [options] plugin")
        if not (math.isfinite(float(preroll)) and 0.0 <= float(preroll) <= 1.0):
            raise ConfigError(f"[options] preroll must be between 0 and 1 second, not {preroll!r}")
        self.space = space
        self.sample_rate = sample_rate
        self.velocity = int(velocity)
        self.buffer_size = int(buffer_size)
        self.channels = int(channels)
        self.preroll = float(preroll)
        if not math.isfinite(float(gain_db)):
            raise ConfigError(f"[options] gain_db must be a number of dB, not {gain_db!r}")
        self.gain = 10.0 ** (float(gain_db) / 20.0)
        self.initialization_timeout = float(initialization_timeout)
        self.path = Path(plugin)
        self.voice = _voice_codec(voice, space.fixed) if voice else None
        voice_names = self.voice.names if self.voice is not None else frozenset()
        self._params = [n for n in space.names if n not in voice_names]  # the names that are plugin parameters
        self._fixed = {k: v for k, v in space.fixed.items() if k not in voice_names}
        self._plugin = load_plugin(self.path, self.initialization_timeout)
        if preset:
            if not Path(preset).is_file():
                raise SynthError(f"base preset not found: {preset}")
            try:
                self._plugin.load_preset(str(preset))
            except Exception as exc:
                raise SynthError(f"{self.path.name} rejected the base preset {preset}: {exc}") from None
        known = set(self._plugin.parameters)
        for name in list(self._fixed) + self._params:
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                raise ConfigError(f"{self.path.name} has no parameter {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                  + "; run `hybridmatch describe` for the list")
        self._base_state = bytes(self._plugin.preset_data)

    def _apply(self, values: Mapping[str, Native]) -> None:
        for name, value in {**self._fixed, **{n: values[n] for n in self._params if n in values}}.items():
            try:
                setattr(self._plugin, name, value)
            except (ValueError, TypeError) as exc:
                raise SynthError(f"{self.path.name}: cannot set {name} = {value!r}: {exc}") from None

    def _voice_messages(self, values: Mapping[str, Native]) -> list[tuple[bytes, float]]:
        return [(self.voice.message(values), 0.0)] if self.voice is not None else []

    def render(self, values: Mapping[str, Native], *, note: int, duration: float, seconds: float, velocity: int | None = None) -> np.ndarray:
        self._apply(values)
        audio = self._play(self._plugin, self._voice_messages(values), note=note, duration=duration, seconds=seconds, velocity=velocity)
        self._flush()
        return audio

    def render_preset(self, path: str | Path, *, note: int, duration: float, seconds: float) -> np.ndarray:
        """A ``.vstpreset`` as a user hears it: loaded into a fresh plugin instance, nothing else set."""
        plugin = load_plugin(self.path, self.initialization_timeout)
        try:
            plugin.load_preset(str(path))
        except Exception as exc:
            raise SynthError(f"{self.path.name} rejected the preset {path}: {exc}") from None
        return self._play(plugin, [], note=note, duration=duration, seconds=seconds)

    def render_notes(self, values: Mapping[str, Native], notes: Sequence[Any], *, seconds: float) -> np.ndarray:
        """``notes`` (:class:`~hybridmatch.phrase.Note`) played as one MIDI sequence, so the plugin's
        own voice allocation, glide and voice stealing are heard: ``(channels, n)`` of ``seconds``."""
        self._apply(values)
        audio = self._sequence(self._plugin, self._voice_messages(values), [(n.pitch, n.onset, n.duration, n.velocity) for n in notes],
                               seconds=seconds)
        self._flush()
        return audio

    def _play(self, plugin: Any, before: list[tuple[bytes, float]], *, note: int, duration: float, seconds: float,
              velocity: int | None = None) -> np.ndarray:
        """One note (after the ``before`` messages and the preroll), with the preroll cut off."""
        return self._sequence(plugin, before, [(note, 0.0, duration, velocity)], seconds=seconds)

    def _sequence(self, plugin: Any, before: list[tuple[bytes, float]], notes: list[tuple[int, float, float, int | None]], *,
                  seconds: float) -> np.ndarray:
        """``(pitch, onset, held, velocity)`` notes after the ``before`` messages and the preroll, the preroll cut off."""
        # whole blocks, so the note starts on a block boundary as it does without preroll (Dexed, for
        # one, starts notes on its own 64-sample grid)
        start = math.ceil(self.preroll * self.sample_rate / self.buffer_size) * self.buffer_size / self.sample_rate
        midi = list(before)
        for pitch, onset, held, velocity in notes:
            vel = midi_velocity(self.velocity if velocity is None else velocity)
            midi += [(bytes([0x90, pitch, vel]), start + onset), (bytes([0x80, pitch, 0]), start + onset + max(0.0, min(held, seconds - onset)))]
        midi.sort(key=lambda m: m[1])  # stable: the voice messages stay first
        audio = plugin(midi, duration=start + seconds, sample_rate=self.sample_rate, num_channels=self.channels,
                       buffer_size=self.buffer_size, reset=True)
        cut = int(round(start * self.sample_rate))
        return np.ascontiguousarray(self.gain * audio[:, cut:cut + int(round(seconds * self.sample_rate))], dtype=np.float32)

    def _flush(self) -> None:
        """Stops every voice and lets the tail run out, then resets, so no render bleeds into the next."""
        self._plugin([(m, 0.0) for m in _ALL_OFF], duration=FLUSH_SECONDS, sample_rate=self.sample_rate,
                     num_channels=self.channels, buffer_size=self.buffer_size, reset=False)
        self._plugin.reset()

    def state(self, values: Mapping[str, Native]) -> bytes:
        """The plugin state (``.vstpreset`` bytes) for a patch: the base preset with ``values`` set."""
        self._plugin.preset_data = self._base_state
        self._apply(values)
        if self.voice is not None:  # a voice is only taken in while audio is processed
            self._plugin(self._voice_messages(values), duration=FLUSH_SECONDS, sample_rate=self.sample_rate,
                         num_channels=self.channels, buffer_size=self.buffer_size, reset=False)
        return bytes(self._plugin.preset_data)

    def export(self, values: Mapping[str, Native], path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.state(values))
        return path

    def current(self) -> dict[str, Native]:
        """The searched plugin parameters as the plugin holds them now (a voice's fields are not
        parameters). pedalboard snaps a value to the plugin's own steps when it is set, so this can
        differ from what was asked by a step."""
        out: dict[str, Native] = {}
        for p in self.space.params:
            if p.name not in self._params:
                continue
            value = getattr(self._plugin, p.name)  # a pedalboard WeakTypeWrapper around str/float/bool
            if p.kind == "choice":
                out[p.name] = next((v for v in p.values if str(v) == str(value) or v == value), str(value))
            else:
                out[p.name] = int(round(float(value))) if p.kind == "integer" else float(value)
        return out

    def read(self, path: str | Path) -> dict[str, Native]:
        """The searched parameters' values after loading a ``.vstpreset`` (the inverse of export)."""
        self._plugin.load_preset(str(path))
        return self.current()


# ------------------------------------------------------------------------------ describe
DESCRIBE_FORMAT = 2  # raised whenever describe writes something new, so no stale skeleton is served


def _cache_path(plugin: Path) -> Path:
    st = plugin.stat()
    key = hashlib.sha1(f"{DESCRIBE_FORMAT}|{plugin.resolve()}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybridmatch" / "describe"
    return root / f"{plugin.stem}-{key}.toml"


SWITCH_WORDS = frozenset({"bypass", "power", "mute", "muted", "enable", "enabled", "active", "switch", "on", "off"})


def _is_switch(name: str, param: Any) -> bool:
    """An on/off, bypass, mute or power switch: two states, and a switch word in the name or in the
    states themselves (``"OP1 SWITCH ON"``). Searching one only adds silent corners to the space."""
    states = [False, True] if param.type is bool else list(param.valid_values) if param.type is str else []
    if len(states) != 2:
        return False
    words = set(re.split(r"[^a-z0-9]+", f"{name} {param.name}".lower()))
    state_words = [set(re.split(r"[^a-z0-9]+", str(v).lower())) for v in states]
    return bool(words & SWITCH_WORDS) or ({"off"} <= state_words[0] and {"on"} <= state_words[1])


def _describe_param(name: str, param: Any, current: Any) -> tuple[dict[str, Any], str]:
    """One ``[[param]]`` table (in display units) and its comment line."""
    comment = f"{param.name!r}" + (f", label {param.label!r}" if param.label else "") + f", pedalboard type {param.type.__name__}"
    entry: dict[str, Any] = {"name": name}
    if param.type is bool:
        entry.update(kind="choice", values=[False, True], default=bool(current))
    elif param.type is str:
        entry.update(kind="choice", values=list(param.valid_values), default=str(current))
    else:
        lo, hi = float(param.min_value), float(param.max_value)
        values = [float(v) for v in param.valid_values]
        # pedalboard reports every float as "discrete" with ~1000 steps; only few whole steps are real.
        if len(values) <= 128 and all(float(v).is_integer() for v in values) and values == [lo + i for i in range(len(values))]:
            entry.update(kind="integer", low=int(lo), high=int(hi), default=round(float(current)))
        elif len(values) <= 32:
            entry.update(kind="choice", values=values, default=float(current))
        else:
            entry.update(kind="continuous", low=lo, high=hi, default=float(current))
            mid = next((v for (a, b), v in param.ranges.items() if a <= 0.5 <= b), None)
            if mid is not None and hi > lo:
                frac = (float(mid) - lo) / (hi - lo)
                if 0.0 < frac < 1.0 and abs(frac - 0.5) > 0.05:  # the knob is not linear: follow its curve
                    entry.update(scale="skew", skew=round(math.log(frac) / math.log(0.5), 3))
                    comment += f"; the knob's midpoint is {float(mid):g}"
    if param.label:
        entry["label"] = str(param.label)
    return entry, comment


def _toml_value(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def describe(plugin_path: str | Path, *, refresh: bool = False) -> str:
    """A ParamSpace TOML skeleton listing every automatable parameter of a VST3 instrument."""
    path = Path(plugin_path)
    if not path.exists():
        raise SynthError(f"VST3 plugin not found: {path}")
    cache = _cache_path(path)
    if cache.is_file() and not refresh:
        return cache.read_text()
    plugin = load_plugin(path)
    lines = [
        f"# ParamSpace skeleton for {plugin.name} ({path.name}), written by `hybridmatch describe`.",
        "# Trim it to the parameters you want searched; move the rest to [fixed] or delete them.",
        "# Values are in the plugin's display units; names are pedalboard's (name + unit).",
        f'name = {_toml_value(path.stem.lower())}',
        'synth = "vst3"',
        "",
        "[options]",
        f"plugin = {_toml_value(str(path.resolve()))}",
        '# preset = "base.vstpreset"   # loaded before the searched parameters are set',
        "",
        "[render]",
        "timeout = 30.0   # seconds; a render that takes longer kills its worker and is recorded as failed",
        "note_range = [48, 72]",
        "duration_range = [0.3, 1.5]",
        "",
    ]
    fixed = []
    for name, param in plugin.parameters.items():
        current = getattr(plugin, name)
        if _is_switch(name, param):
            fixed.append(f"{name} = {_toml_value(bool(current) if param.type is bool else str(current))}  # a switch; never searched")
            continue
        entry, comment = _describe_param(name, param, current)
        lines.append(f"# {comment}")
        lines.append("[[param]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
        lines.append("")
    if fixed:
        lines += ["[fixed]", *fixed, ""]
    text = "\n".join(lines)
    ParamSpace.from_dict(tomllib.loads(text))  # what we print must load
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, cache)
    return text
