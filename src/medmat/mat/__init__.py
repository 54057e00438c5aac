"""MAT vocabulary and triplets."""
from medmat.mat.triplet import Triplet
from medmat.mat.vocab import UnknownTermError, Vocabulary, default_vocabulary, normalize

__all__ = ["Triplet", "UnknownTermError", "Vocabulary", "default_vocabulary", "normalize"]
