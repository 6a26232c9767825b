"""Test-only synths, importable by worker processes as ``tests._crashy:Class``."""

from __future__ import annotations

import os

from hybridmatch.synths._toy import ToySynth


class RaisingToy(ToySynth):
    """Raises for patches whose osc1_amp is above 0.9 (a per-candidate failure)."""

    def render(self, values, *, note, duration, seconds):
        if float(values["osc1_amp"]) > 0.9:
            raise RuntimeError("synthetic render failure")
        return super().render(values, note=note, duration=duration, seconds=seconds)


class CrashingToy(ToySynth):
    """Kills its worker process (as a segfaulting plugin would) when osc1_amp is above 0.9."""

    def render(self, values, *, note, duration, seconds):
        if float(values["osc1_amp"]) > 0.9:
            os._exit(139)
        return super().render(values, note=note, duration=duration, seconds=seconds)
