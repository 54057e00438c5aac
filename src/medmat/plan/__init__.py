"""Compositional-generalization planning: manifests, arms, invariants, advice, studies.

See docs/planning.md. The public surface:
  PlanConfig                                                 the plan stage's config
  plan_targets(store, config, out_dir) -> PlanOutcome        the plan stage's operation
  plan_target(store, target, config) -> Manifest             one target, in memory
  load_manifest / load_checked / save_manifest / validate_manifest / check_manifest
  advise(target, store=None, catalog_files=None) -> Advice
"""

from medmat.lazy import lazy_exports

_EXPORTS = {
    "ARM_KINDS": "arms",
    "Advice": "advice",
    "AdviceError": "advice",
    "Arm": "manifest",
    "DIRECTIONS": "elements",
    "Manifest": "manifest",
    "ManifestError": "manifest",
    "PlanConfig": "config",
    "PlanError": "arms",
    "PlanOutcome": "targets",
    "SkippedArm": "manifest",
    "Source": "manifest",
    "advise": "advice",
    "check_manifest": "invariants",
    "classify": "elements",
    "eligible_targets": "targets",
    "load_checked": "invariants",
    "load_manifest": "manifest",
    "minimal_covers": "advice",
    "plan_target": "planner",
    "plan_targets": "targets",
    "read_targets_file": "targets",
    "save_manifest": "manifest",
    "validate_manifest": "invariants",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
