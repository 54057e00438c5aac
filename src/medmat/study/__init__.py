"""Whole studies: `medmat run STUDY.yaml` (build, plan, train, eval, report) and `medmat demo`."""
