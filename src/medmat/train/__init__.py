"""The train stage: ``train_arm`` (``medmat train`` and ``medmat run``) and its config file."""

from medmat.config import parse_assignments
from medmat.models.base import ModelConfig, TrainConfig
from medmat.train.config import TrainConfigError, TrainSpec, load_train_spec
from medmat.train.run import TRAIN_JSON, TrainError, TrainRecord, train_arm, train_key

__all__ = [
    "ModelConfig", "TRAIN_JSON", "TrainConfig", "TrainConfigError", "TrainError", "TrainRecord", "TrainSpec",
    "load_train_spec", "parse_assignments", "train_arm", "train_key",
]
