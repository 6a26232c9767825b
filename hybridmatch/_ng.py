"""nevergrad, imported without its optional Bayesian-optimization backend."""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["nevergrad"]


def nevergrad() -> ModuleType:
    """The ``nevergrad`` module. Its first import goes through here with ``bayes_opt`` hidden:
    nevergrad imports that package only to register its Bayesian optimizers (``BO``, ``BOSplit``),
    which no strategy uses, and skips them when it is missing, as for any optional dependency. The
    package pulls in scikit-learn and pandas, 0.6-0.8 s on a run's path to its first render. Once
    nevergrad is loaded, ``bayes_opt`` imports as usual."""
    if "nevergrad" not in sys.modules:
        hidden = "bayes_opt" not in sys.modules
        if hidden:
            sys.modules["bayes_opt"] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError
        try:
            import nevergrad
        finally:
            if hidden:
                del sys.modules["bayes_opt"]
    import nevergrad

    return nevergrad
