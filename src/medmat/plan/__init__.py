"""Compositional-generalization planning: manifests, arms, invariants, advice, studies.

See docs/planning.md. The public surface:
  plan_target(store, target, PlanConfig(...)) -> Manifest     one target
  plan_study(store, out_dir, config, targets=None) -> dict     every eligible target
  load_manifest / save_manifest / validate_manifest / check_manifest
  advise(target, store=None, catalog_files=None) -> Advice
"""

from medmat.plan.advice import Advice, AdviceError, advise, minimal_covers
from medmat.plan.arms import ARM_KINDS, PlanError
from medmat.plan.elements import DIRECTIONS, classify
from medmat.plan.invariants import check_manifest, validate_manifest
from medmat.plan.manifest import Arm, Manifest, ManifestError, SkippedArm, Source, load_manifest, save_manifest
from medmat.plan.planner import PlanConfig, plan_target
from medmat.plan.study import eligible_targets, plan_study, read_targets_file

__all__ = [
    "ARM_KINDS", "Advice", "AdviceError", "Arm", "DIRECTIONS", "Manifest", "ManifestError", "PlanConfig",
    "PlanError", "SkippedArm", "Source", "advise", "check_manifest", "classify", "eligible_targets",
    "load_manifest", "minimal_covers", "plan_study", "plan_target", "read_targets_file", "save_manifest",
    "validate_manifest",
]
