"""One error hierarchy. The CLI turns any of these into one line and exit code 2."""

from __future__ import annotations

__all__ = ["HybridMatchError", "TargetError", "SynthError", "ConfigError", "ParameterError"]


class HybridMatchError(Exception):
    """Root of every error hybridmatch raises on purpose."""


class TargetError(HybridMatchError, ValueError):
    """The target audio cannot be used (missing, corrupt, silent, too long, ...)."""


class SynthError(HybridMatchError, RuntimeError):
    """A synth backend could not be built, or failed in a way that is not per-candidate."""


class ConfigError(HybridMatchError, ValueError):
    """A config, strategy or name is unknown or malformed."""


class ParameterError(HybridMatchError, ValueError):
    """Bad arguments to a DSP function (shapes, rates, NaN)."""
