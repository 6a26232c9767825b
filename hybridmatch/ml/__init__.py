"""The neural proposer: datasets of synth renders, the conditional flow (and the regression
baseline), training and sampling. Importing this package imports torch."""

from .checkpoint import Checkpoint, load_checkpoint
from .dataset import FlowData, build_dataset
from .evaluate import evaluate
from .features import Augment, logmel
from .model import ModelConfig
from .proposer import CHECKPOINT_DIR, propose_from_checkpoint, shipped_checkpoint
from .train import train

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
