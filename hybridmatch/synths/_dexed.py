"""Dexed (DX7) through ``dexed-py``.

The parameter names follow ``dexed.Preset`` field by field (all 145 of them): scalar fields keep
their name, arrays get an index (``op3_output_level``, ``pitch_env_rate_2``, ``op1_env_level_4``).
Native values are DX7 integers (0-99, 0-31, ...), so every preset the search produces is exactly
representable in a ``.syx`` file. Exports are single-voice dumps (``F0 43 00 00 01 1B`` + 155 bytes +
checksum + ``F7``) and 32-voice banks through ``dexed.Patch.save_to_bank``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SynthError
from ..space import Native, ParamSpace
from . import midi_velocity

VOICE_HEADER = bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B])
_OP_ARRAYS = {"op_env_rates": "env_rate", "op_env_levels": "env_level"}
_GLOBAL_ARRAYS = {"pitch_env_rates": "pitch_env_rate", "pitch_env_levels": "pitch_env_level"}


def preset_field_names() -> list[tuple[str, str, tuple[int, ...]]]:
    """``(param name, Preset field, index)`` for all 145 Preset values, in ``Preset.to_array`` order."""
    from dexed.preset import _DATA_FIELDS, _FIELD_SHAPES

    out: list[tuple[str, str, tuple[int, ...]]] = []
    for fld in _DATA_FIELDS:
        shape = _FIELD_SHAPES[fld]
        if not shape:
            out.append((fld, fld, ()))
        elif fld in _GLOBAL_ARRAYS:
            out += [(f"{_GLOBAL_ARRAYS[fld]}_{j + 1}", fld, (j,)) for j in range(shape[0])]
        elif fld in _OP_ARRAYS:
            out += [(f"op{i + 1}_{_OP_ARRAYS[fld]}_{j + 1}", fld, (i, j)) for i in range(6) for j in range(4)]
        else:
            out += [(f"op{i + 1}_{fld[3:]}", fld, (i,)) for i in range(6)]
    return out


def _checksum(payload: bytes) -> int:
    return (-sum(payload)) & 0x7F


def voice_message(sysex156: bytes) -> bytes:
    """155 bytes of VCED voice data as a DX7 single-voice sysex message (163 bytes)."""
    payload = bytes(b & 0x7F for b in sysex156[:155])
    return VOICE_HEADER + payload + bytes([_checksum(payload), 0xF7])


def write_voice_syx(sysex156: bytes, path: str | Path) -> Path:
    """Writes :func:`voice_message` to ``path``."""
    path = Path(path)
    path.write_bytes(voice_message(sysex156))
    return path


def read_voice_syx(path: str | Path) -> bytes:
    """Reads a single-voice ``.syx`` written by :func:`write_voice_syx`; returns 156 VCED bytes."""
    data = Path(path).read_bytes()
    if len(data) != 163 or data[:6] != VOICE_HEADER or data[-1] != 0xF7:
        raise SynthError(f"{path} is not a DX7 single-voice sysex dump")
    payload = data[6:161]
    if _checksum(payload) != data[161]:
        raise SynthError(f"{path}: sysex checksum mismatch")
    return payload + b"\x3f"


class Dx7Voice:
    """DX7 voice fields (named as in :func:`preset_field_names`) to a ``dexed`` patch and its sysex.

    Shared by the ``dexed`` backend and by the ``vst3`` backend's ``voice = "dx7"`` option, which
    sends the voice to the Dexed plugin as one sysex message before each note."""

    def __init__(self, fixed: Mapping[str, Native] | None = None) -> None:
        try:
            import dexed
        except ImportError:
            raise SynthError("DX7 voices need the 'dexed-py' package: pip install dexed-py") from None
        self.module = dexed
        self.fixed = dict(fixed or {})
        self.fields = preset_field_names()
        self.names = frozenset(name for name, _, _ in self.fields)

    def preset(self, values: Mapping[str, Native]) -> object:
        """A ``dexed.Preset`` from native DX7 values (fields not given keep Preset defaults)."""
        preset = self.module.Preset()
        merged = {**self.fixed, **values}
        scales = self.module.Preset.SCALES
        for name, fld, index in self.fields:
            if name not in merged:
                continue
            value = merged[name]
            stored = float(value) / scales[fld] if fld in scales else int(value)
            if index:
                getattr(preset, fld)[index] = stored
            else:
                setattr(preset, fld, stored)
        return preset

    def patch(self, values: Mapping[str, Native], name: str = "HYBRIDMTCH") -> object:
        patch = self.preset(values).to_patch()  # type: ignore[attr-defined]
        patch.name = name[:10]
        return patch

    def message(self, values: Mapping[str, Native], name: str = "HYBRIDMTCH") -> bytes:
        """The voice as a single-voice sysex message (``F0 43 00 00 01 1B`` ... ``F7``)."""
        return voice_message(self.patch(values, name).to_sysex())  # type: ignore[attr-defined]

    def values_from_sysex(self, sysex156: bytes) -> dict[str, int]:
        """Native values of a 156-byte voice, for round-trip checks."""
        preset = self.module.Patch.from_sysex(sysex156).to_preset()
        scales = self.module.Preset.SCALES
        out = {}
        for name, fld, index in self.fields:
            stored = getattr(preset, fld)
            stored = stored[index] if index else stored
            out[name] = int(round(float(stored) * scales[fld])) if fld in scales else int(stored)
        return out


class DexedSynth:
    def __init__(self, space: ParamSpace, *, sample_rate: int = 44100, velocity: int = 100) -> None:
        self.voice = Dx7Voice(space.fixed)
        self.space = space
        self.sample_rate = sample_rate
        self.velocity = velocity
        for name in list(space.fixed) + space.names:
            if name not in self.voice.names:
                raise ConfigError(f"dexed has no parameter named {name!r}")
        self._synth = self.voice.module.DexedSynth(sample_rate=float(sample_rate))

    def render(self, values: Mapping[str, Native], *, note: int, duration: float, seconds: float, velocity: int | None = None) -> np.ndarray:
        self._synth.load_patch(self.voice.patch(values))
        level = self.velocity if velocity is None else midi_velocity(velocity)
        audio = self._synth.render(int(note), level, float(duration), float(seconds))
        return np.asarray(audio, dtype=np.float32)[None]

    def export(self, values: Mapping[str, Native], path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.voice.message(values, path.stem.upper()))
        return path

    def export_bank(self, patches: Sequence[Mapping[str, Native]], path: str | Path) -> Path:
        """32-voice bank: the given patches first, then copies of the last one."""
        if not patches:
            raise SynthError("no patches to write into a bank")
        voices = [self.voice.patch(p, f"HM {i + 1:02d}") for i, p in enumerate(patches[:32])]
        voices += [voices[-1]] * (32 - len(voices))
        self.voice.module.Patch.save_to_bank(str(path), voices)
        return Path(path)

    def values_from_sysex(self, sysex156: bytes) -> dict[str, int]:
        return self.voice.values_from_sysex(sysex156)
