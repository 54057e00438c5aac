"""medmat: Med-MAT (arXiv 2412.20070) as software.

Catalog medical datasets by Modality/Area/Task, turn them into multiple-choice VQA,
plan compositional-generalization experiments, train and evaluate multimodal models,
and report the results. Importing medmat has no side effects.
"""

__version__ = "0.1.0"
