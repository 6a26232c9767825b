"""The neural proposer: datasets of synth renders, the conditional flow (and the regression
baseline), training and sampling. Each name below is imported from its module on first use, so
``hybridmatch.ml.proposer``'s checkpoint lookups (``auto`` choosing a strategy) do not import torch.
Training and evaluation are ``hybridmatch.ml.train.train`` and ``hybridmatch.ml.evaluate.evaluate``."""

from __future__ import annotations

import importlib
from typing import Any

_SOURCES = {
    "Augment": "features",
    "CHECKPOINT_DIR": "proposer",
    "Checkpoint": "checkpoint",
    "FlowData": "dataset",
    "ModelConfig": "model",
    "build_dataset": "dataset",
    "load_checkpoint": "checkpoint",
    "logmel": "features",
    "propose_from_checkpoint": "proposer",
    "shipped_checkpoint": "proposer",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_SOURCES[name]}", __name__), name)
