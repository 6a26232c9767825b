"""Test-only synths, importable by worker processes as ``tests._crashy:Class``."""

from __future__ import annotations

import os
import signal
import time

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


FAULT_AMP = 0.654321  # the known answer's osc1_amp in the fault tests: the search never renders it exactly


class FaultyToy(ToySynth):
    """A real fault on chosen renders: ``HM_FAULT`` = ``crash`` (the process dies, as a segfaulting
    plugin would), ``hang`` (sleeps far past any render timeout) or ``interrupt`` (sends the matching
    process, ``HM_FAULT_PARENT``, a real SIGINT, as Ctrl-C would, then renders). It strikes renders
    whose osc1_amp is above 0.9 (``HM_FAULT_ON=search``), equal to ``FAULT_AMP`` (``reference``), or
    any render once the file ``HM_FAULT_FILE`` exists (``verify``: the test creates it when the search ends)."""

    def render(self, values, *, note, duration, seconds):
        amp = float(values["osc1_amp"])
        on = os.environ.get("HM_FAULT_ON", "")
        trigger = os.environ.get("HM_FAULT_FILE", "")
        if (on == "search" and amp > 0.9) or (on == "reference" and abs(amp - FAULT_AMP) < 1e-4) or (
                on == "verify" and trigger and os.path.exists(trigger)):
            mode = os.environ.get("HM_FAULT", "")
            if mode == "crash":
                os._exit(139)
            if mode == "hang":
                time.sleep(3600)
            if mode == "interrupt":
                os.kill(int(os.environ["HM_FAULT_PARENT"]), signal.SIGINT)
                time.sleep(5)  # the parent stops waiting for this render
        return super().render(values, note=note, duration=duration, seconds=seconds)
