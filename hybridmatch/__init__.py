"""hybridmatch: reverse sound design with neural proposals and black-box search over real synths.

``hybridmatch.match(target, synth=..., budget=...)`` is the whole pipeline in one call; it and
``MatchResult`` are imported on first use, so importing the package stays light."""

from typing import Any

from .audio import Target, analyse, load_target
from .errors import ConfigError, HybridMatchError, ParameterError, SynthError, TargetError
from .space import Param, ParamSpace, load_space
from .synths import Synth, SynthSpec

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "HybridMatchError",
    "MatchResult",
    "Param",
    "ParamSpace",
    "ParameterError",
    "Synth",
    "SynthError",
    "SynthSpec",
    "Target",
    "TargetError",
    "analyse",
    "load_space",
    "load_target",
    "match",
]


def __getattr__(name: str) -> Any:
    if name in ("match", "MatchResult"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'hybridmatch' has no attribute {name!r}")
