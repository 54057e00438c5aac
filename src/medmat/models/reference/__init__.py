"""The CPU reference model (registered as backbone ``"reference"``).

A small CNN trained from scratch plus a word-embedding text encoder that scores every
answer option through its text; cheap enough to train a whole compositional-generalization
study on two CPU cores. Importing this package does not import torch.
"""

from .backbone import ReferenceBackbone
from .config import ReferenceConfig, ReferenceTrainExtra
from .tokenizer import WordTokenizer

__all__ = ["ReferenceBackbone", "ReferenceConfig", "ReferenceTrainExtra", "WordTokenizer"]
