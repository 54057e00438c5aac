"""Training entry shared by every backbone: config precedence and ``train_arm`` (``medmat train``)."""

from medmat.train.config import TrainConfigError, TrainSpec, load_train_spec, parse_assignments
from medmat.train.run import TRAIN_JSON, TrainError, ensure_backbones, train_arm

__all__ = [
    "TRAIN_JSON", "TrainConfigError", "TrainError", "TrainSpec", "ensure_backbones", "load_train_spec",
    "parse_assignments", "train_arm",
]
