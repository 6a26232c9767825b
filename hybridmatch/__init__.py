"""hybridmatch: reverse sound design with neural proposals and black-box search over real synths."""

from .audio import Target, analyse, load_target
from .errors import ConfigError, HybridMatchError, ParameterError, SynthError, TargetError
from .space import Param, ParamSpace, load_space
from .synths import Synth, SynthSpec

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "HybridMatchError",
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
]
