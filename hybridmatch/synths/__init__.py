"""Synth backends behind one protocol, registered by name.

Every backend is built inside the worker that uses it from a picklable :class:`SynthSpec`, because
synth engines hold state and must not be shared between threads or processes.

Example
-------
>>> from hybridmatch.space import ParamSpace
>>> space = ParamSpace.from_dict({"param": [{"name": "osc1_freq", "kind": "continuous",
...     "low": 100.0, "high": 1000.0, "scale": "log"}]})
>>> synth = SynthSpec("toy", space).build()
>>> synth.render(synth.space.to_native(np.array([0.5])), note=60, duration=0.1, seconds=0.2).shape
(1, 8820)
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, SynthError
from ..space import Native, ParamSpace

__all__ = ["Synth", "SynthSpec", "register", "registered", "PRESET_EXT", "midi_velocity"]


@runtime_checkable
class Synth(Protocol):
    """What the engine needs of a synth backend."""

    space: ParamSpace
    sample_rate: int

    def render(self, values: Mapping[str, Native], *, note: int, duration: float, seconds: float, velocity: int | None = None) -> np.ndarray:
        """Renders one note: ``duration`` s held, ``seconds`` s of audio → float32 ``(channels, n)``.
        ``velocity`` (MIDI, 1-127) plays the note at that velocity; None plays the config's."""
        ...

    def export(self, values: Mapping[str, Native], path: str | Path) -> Path:
        """Writes the native preset (``.vital``, ``.syx``, ...) and returns its path."""
        ...


_REGISTRY: dict[str, str] = {}
PRESET_EXT: dict[str, str] = {}


def register(name: str, target: str, *, preset_ext: str) -> None:
    """Registers ``"module:Class"`` under ``name``. Duplicate names are refused."""
    if name in _REGISTRY:
        raise ConfigError(f"synth {name!r} is already registered")
    _REGISTRY[name] = target
    PRESET_EXT[name] = preset_ext


def registered() -> list[str]:
    return sorted(_REGISTRY)


register("vital", "hybridmatch.synths._vital:VitalSynth", preset_ext=".vital")
register("dexed", "hybridmatch.synths._dexed:DexedSynth", preset_ext=".syx")
register("toy", "hybridmatch.synths._toy:ToySynth", preset_ext=".json")
register("vst3", "hybridmatch.synths._vst3:Vst3Synth", preset_ext=".vstpreset")


def _resolve(name: str) -> type:
    target = _REGISTRY.get(name, name if ":" in name else None)
    if target is None:
        raise ConfigError(f"unknown synth {name!r}; registered: {', '.join(registered())}")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise SynthError(f"synth {name!r} needs a package that is not installed: {exc}") from None
    except AttributeError:
        raise ConfigError(f"synth {name!r}: {target} does not exist") from None


def midi_velocity(velocity: float) -> int:
    """A note's velocity as MIDI has it: a whole number from 1 to 127."""
    return min(max(int(velocity), 1), 127)


DEFAULT_TIMEOUT = 30.0  # seconds; a hung render kills its worker and is recorded as failed


@dataclass(frozen=True)
class SynthSpec:
    """Picklable recipe for a synth instance: backend name (or ``"module:Class"``), space, options."""

    backend: str
    space: ParamSpace
    sample_rate: int = 44100
    options: Mapping[str, Any] = field(default_factory=dict)
    render: Mapping[str, Any] = field(default_factory=dict)  # the config's [render] table (dataset note/length ranges)
    default_strategy: str = "cma"  # the config's ``strategy``: what ``--strategy auto`` runs

    @property
    def plays_sequences(self) -> bool:
        """Whether the backend plays a phrase as one MIDI sequence (``render_notes``) rather than note by note."""
        return hasattr(_resolve(self.backend), "render_notes")

    def build(self) -> Synth:
        cls = _resolve(self.backend)
        return cls(self.space, sample_rate=self.sample_rate, **dict(self.options))  # type: ignore[no-any-return]

    @functools.cached_property
    def key(self) -> str:
        """Identity of the synth instance this spec builds (workers keep one per key)."""
        raw = repr((self.backend, self.space.to_dict(), self.sample_rate, sorted(dict(self.options).items())))
        return hashlib.sha1(raw.encode()).hexdigest()

    @property
    def timeout(self) -> float | None:
        """Seconds one render may take, beyond its own length, before its worker is killed: the
        config's ``[render] timeout``, 30 s by default for every backend; 0 turns the watchdog off."""
        value = float(self.render.get("timeout", DEFAULT_TIMEOUT))
        return value if value > 0 else None

    @property
    def preset_ext(self) -> str:
        return PRESET_EXT.get(self.backend, ".json")

    def validate(self) -> None:
        """Fails fast in the parent (unknown backend) without building an engine."""
        _resolve(self.backend)


def export_bank(spec: SynthSpec, patches: Sequence[Mapping[str, Native]], path: str | Path) -> Path | None:
    """Writes every patch into one native bank file where the backend supports it, else ``None``
    (without building an engine: a Vital instance in the parent costs a second at the end of a run)."""
    if not callable(getattr(_resolve(spec.backend), "export_bank", None)):
        return None
    return spec.build().export_bank(patches, path)  # type: ignore[attr-defined, no-any-return]
