"""One error hierarchy. The CLI turns any of these into one line and exit code 2."""

from __future__ import annotations

import re

__all__ = ["HybridMatchError", "TargetError", "SynthError", "ConfigError", "ParameterError", "Interrupted", "check_name"]

_NAME = re.compile(r"[A-Za-z0-9._-]+")


class HybridMatchError(Exception):
    """Root of every error hybridmatch raises on purpose."""


class TargetError(HybridMatchError, ValueError):
    """The target audio cannot be used (missing, corrupt, silent, too long, ...)."""


class SynthError(HybridMatchError, RuntimeError):
    """A synth backend could not be built, or failed in a way that is not per-candidate."""


class ConfigError(HybridMatchError, ValueError):
    """A config, strategy or name is unknown or malformed."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, after what was computed so far was written; its message says what and where."""


class ParameterError(HybridMatchError, ValueError):
    """Bad arguments to a DSP function (shapes, rates, NaN)."""


def check_name(kind: str, name: str) -> str:
    """``name`` if it is safe as one path component (``[A-Za-z0-9._-]+``, not ``.`` or ``..``),
    since strategy and config names become folder names; else a ConfigError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"{kind} name {name!r} must be letters, digits, '.', '_' or '-' (and not '.' or '..')")
    return name
