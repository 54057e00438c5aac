"""Records -> Med-MAT questions: builders (classification and box questions), splits, subset aggregation + cap."""

from medmat.vqa.aggregate import DEFAULT_CAP, SubsetBuild, build_subsets, cap_report
from medmat.vqa.builder import SubsetSpec, build_items, item_key, letter_counts
from medmat.vqa.builders import DEFAULT_BUILDERS, QUESTION_BUILDERS, QuestionBuilder, build_questions, builder_for
from medmat.vqa.splits import assign_splits, one_sided_labels, stratified_split

__all__ = [
    "DEFAULT_BUILDERS", "QUESTION_BUILDERS", "QuestionBuilder", "build_questions", "builder_for", "DEFAULT_CAP", "SubsetBuild", "SubsetSpec", "assign_splits", "build_items", "build_subsets",
    "cap_report", "item_key", "letter_counts", "one_sided_labels", "stratified_split",
]
