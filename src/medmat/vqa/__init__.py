"""Records -> Med-MAT single-choice questions: builder, splits, subset aggregation + cap."""

from medmat.vqa.aggregate import DEFAULT_CAP, SubsetBuild, build_subsets, cap_report
from medmat.vqa.builder import SubsetSpec, build_items, item_key, letter_counts
from medmat.vqa.splits import assign_splits, one_sided_labels, stratified_split

__all__ = [
    "DEFAULT_CAP", "SubsetBuild", "SubsetSpec", "assign_splits", "build_items", "build_subsets",
    "cap_report", "item_key", "letter_counts", "one_sided_labels", "stratified_split",
]
