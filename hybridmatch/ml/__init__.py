"""The neural proposer: datasets of synth renders, the conditional flow (and the regression
baseline), training and sampling. Importing this package imports torch."""

from .dataset import FlowData, build_dataset
from .features import Augment, logmel
from .model import ModelConfig
from .proposer import CHECKPOINT_DIR, propose_from_checkpoint, shipped_checkpoint
from .train import Checkpoint, evaluate, load_checkpoint, train

__all__ = [
    "Augment",
    "CHECKPOINT_DIR",
    "Checkpoint",
    "FlowData",
    "ModelConfig",
    "build_dataset",
    "evaluate",
    "load_checkpoint",
    "logmel",
    "propose_from_checkpoint",
    "shipped_checkpoint",
    "train",
]
