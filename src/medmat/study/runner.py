"""``medmat run STUDY.yaml``: a thin sequence of the stages' own operations.

    build (medmat.build.build) -> plan (medmat.plan.plan_targets)
      -> per arm: train (medmat.train.train_arm) -> eval (medmat.evaluate.evaluate_arm)
      -> results.json (aggregate) -> report (medmat.study.report.write_report)

The commands ``medmat build/plan/train/eval/report`` call the same operations, so a
study arm and the same arm run by hand give the same model and the same predictions.
What the runner adds is its content-keyed cache (StageLog): a re-run with nothing
changed does nothing, an interrupted study continues where it stopped, and arms with
identical training sets share one model (all zero-shot arms share the untrained model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medmat.io import sha256_file
from medmat.study.aggregate import eval_dir
from medmat.progress import Reporter, fit_progress
from medmat.runtime import content_key, is_main_process, provenance, world_size
from medmat.study.cache import StageLog
from medmat.study.config import StudyConfig

UNTIL = ("build", "plan", "train", "report")


@dataclass
class StudyRun:
    """What ``run_study`` did: its stage log, and (after the report stage) results and report files."""

    log: StageLog
    results: Any = None  # StudyResults
    report: dict[str, Path] = field(default_factory=dict)


def _portable(path: Path | None, run_dir: Path) -> str | None:
    """A path as it enters a stage key: relative when inside the run folder, so a moved run stays cached."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def build_stage(cfg: StudyConfig, run_dir: Path, log: StageLog, reporter: Reporter) -> Path:
    from medmat.build import build, input_files

    store_dir = run_dir / "store"
    files = input_files(cfg.data, cfg.base_dir)
    key = {"data": cfg.data.model_dump(mode="json"), "files": [sha256_file(f) for f in files],
           "data_root": _portable(cfg.resolve(cfg.data.data_root), run_dir)}
    log.run("build", key, lambda: {"items": build(cfg.data, store_dir, base_dir=cfg.base_dir,
                                                  work_dir=run_dir / "data" / "synth",
                                                  reporter=reporter).summary["totals"]["items"]})
    return store_dir


def plan_stage(cfg: StudyConfig, store_dir: Path, run_dir: Path, log: StageLog, reporter: Reporter) -> list[Path]:
    from medmat.plan import plan_targets
    from medmat.store import VQAStore

    store = VQAStore(store_dir)

    def _plan() -> dict[str, Any]:
        outcome = plan_targets(store, cfg.plan, run_dir / "plans", fmt="json", require_all=True)
        if not outcome.manifests:
            raise ValueError(f"no target of {store_dir} can be planned: "
                             + "; ".join(f"{s['target']}: {s['reason']}" for s in outcome.index["skipped"]))
        return {"manifests": [p.relative_to(run_dir).as_posix() for p in outcome.manifests]}

    out = log.run("plan", {"store": store.fingerprint(), "plan": cfg.plan.model_dump(mode="json")}, _plan)
    reporter.say(f"planned {len(out['manifests'])} target(s)")
    return [run_dir / m for m in out["manifests"]]


def train_and_eval(cfg: StudyConfig, manifests: list[Path], run_dir: Path, log: StageLog, reporter: Reporter) -> None:
    from medmat.plan import load_manifest
    from medmat.study.trainings import arm_trainings, check_workers, stage_key, train_pending
    from medmat.train import train_arm

    model = cfg.model_resolved()
    loaded = [(m, load_manifest(m)) for m in manifests]
    trainings = arm_trainings(loaded, model, cfg.train_variants(), run_dir)
    check_workers(cfg.train_workers, model)
    if cfg.train_workers > 1:
        train_pending(trainings, cfg.train_workers, log, reporter)
    with reporter.task("arms trained + evaluated", total=len(trainings)) as arms_done:
        for t in trainings:
            def _train(t=t) -> dict[str, Any]:
                if not t.arm.train:
                    reporter.say(f"{t.label}: zero-shot, no training")
                    return train_arm(t.manifest_path, t.arm.name, model, t.config, t.out_dir).model_dump(mode="json")
                reporter.say(f"{t.label}: training on {len(t.arm.train)} items ...")
                with reporter.task(f"training {t.arm.name}") as task:
                    per_step = t.config.batch_size * t.config.grad_accum * world_size()
                    rec = train_arm(t.manifest_path, t.arm.name, model, t.config, t.out_dir,
                                    [fit_progress(task, per_step)])
                return rec.model_dump(mode="json")

            log.run(t.stage, stage_key(t), _train)
            # under accelerate every rank trains, and every rank evaluates its shard
            evaluate_stage(cfg, t.manifest_path, t.manifest, t.arm.name, t.out_dir, t.key, run_dir, log, reporter,
                           t.variant)
            arms_done.advance()


def evaluate_stage(cfg: StudyConfig, mpath: Path, manifest: Any, arm: str, ckpt: Path, key: str, run_dir: Path,
                   log: StageLog, reporter: Reporter, variant: str | None = None) -> None:
    """The arm's model on the target's test items (every scorer), and on the test items of
    the subsets it trained on (option scorer): what it learned where it was trained.

    Under a multi-process launch every rank calls this: ``evaluate_arm`` shards the items
    over the ranks and rank 0 writes the results and the stage records. The barrier first
    makes sure rank 0 has recorded the training stage before any rank decides its next stage
    from the records (two arms with one training set share it)."""
    from medmat.evaluate import arm_items, evaluate_arm, in_distribution_items
    from medmat.runtime import barrier

    barrier(f"the evaluation of {manifest.target} / {arm}")
    model = cfg.model_resolved()
    out = eval_dir(run_dir, manifest.target, arm, variant)
    stage = out.relative_to(run_dir / "evals").as_posix()
    target = arm_items(mpath, arm)
    within = in_distribution_items(mpath, arm, cfg.eval.in_distribution, cfg.eval.seed)
    option_only = cfg.eval.model_copy(update={"scorers": ["option"]})
    for suffix, what, where, ecfg in (("", target, out, cfg.eval),
                                      ("/in-distribution", within, out / "in-distribution", option_only)):
        if not what.items:
            continue

        def _eval(what=what, where=where, ecfg=ecfg) -> dict[str, Any]:
            evaluate_arm(what, model, ckpt, ecfg, where, reporter=reporter)
            return {"results": where.relative_to(run_dir).as_posix(), "n": len(what.items)}

        log.run(f"eval/{stage}{suffix}",
                {"model": key, "items": content_key(sorted(it.item_id for it in what.items)),
                 "eval": ecfg.model_dump(mode="json")}, _eval)


def _run_one(cfg: StudyConfig, run_dir: Path, reporter: Reporter, until: str) -> tuple[StageLog, list[Path]]:
    """The stages of one run (one seed) up to ``until``; returns its log and manifests."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log = StageLog(run_dir, write=is_main_process())
    if world_size() > 1:
        log.require_cached = ("build", "plan")
    store_dir = build_stage(cfg, run_dir, log, reporter)
    if until == "build":
        return log, []
    manifests = plan_stage(cfg, store_dir, run_dir, log, reporter)
    if until != "plan":
        train_and_eval(cfg, manifests, run_dir, log, reporter)
    return log, manifests


def run_study(cfg: StudyConfig, run_dir: str | Path, reporter: Reporter | None = None,
              until: str = "report") -> StudyRun:
    """Run the stages of a study into ``run_dir`` up to ``until``.

    With ``cfg.seeds`` the study runs once per seed into ``RUN_DIR/seed-<s>/`` (a whole
    single-seed run each: data, store, plans, models, evals) and results.json pools them.
    With ``cfg.cases`` each case (the study with some fields changed) runs the same way into
    ``RUN_DIR/case-<name>/`` (``.../seed-<s>/`` with seeds); results.json holds every case's
    results, labelled, and the report sets them side by side.
    Under ``accelerate launch`` (WORLD_SIZE > 1) every rank trains together, but the data
    and plan stages must already be done (``medmat run STUDY --until plan`` once, in one
    process); every rank evaluates its share of the questions and only rank 0 writes results.
    """
    from medmat.study.aggregate import Collected, collect, finalize, merge_cases
    from medmat.study.report import write_report

    if until not in UNTIL:
        raise ValueError(f"until must be one of {', '.join(UNTIL)}, got {until!r}")
    reporter = reporter or Reporter()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = []
    for case, ccfg in cfg.case_configs():
        base = run_dir / f"case-{case}" if case is not None else run_dir
        runs += [(case, ccfg.for_seed(s), base / f"seed-{s}") for s in ccfg.seeds] or [(case, ccfg, base)]
    logs, collected = [], {case: Collected() for case, _ in cfg.case_configs()}
    for case, one, where in runs:
        if len(runs) > 1:
            reporter.say((f"case {case}, " if case is not None else "") + f"seed {one.seed}: {where}")
        log, manifests = _run_one(one, where, reporter, until)
        logs.append(log)
        if until == "report" and is_main_process():
            collected[case].add(collect(one, where, manifests))
    run = StudyRun(logs[0] if len(logs) == 1 else _merged(logs, run_dir))
    if until != "report" or not is_main_process():
        return run
    prov = provenance(cfg.model_dump(mode="json"))
    if cfg.cases:
        results = merge_cases(cfg, [(case, finalize(ccfg, collected[case], prov))
                                    for case, ccfg in cfg.case_configs()], prov)
    else:
        results = finalize(cfg, collected[None], prov)
    secs: dict[str, float] = {}
    for log in logs:
        for name, v in log.seconds.items():
            kind = name.split("/", 1)[0]
            secs[f"{kind}_s"] = round(secs.get(f"{kind}_s", 0.0) + v, 1)
    results.timings = {"total_s": round(time.perf_counter() - t0, 1), **secs}
    results.save(run_dir / "results.json")
    run.results, run.report = results, write_report(run_dir, cfg.report)
    return run


def _merged(logs: list[StageLog], run_dir: Path) -> StageLog:
    """One log listing what every seed's (and case's) run did (names prefixed by the run folder)."""
    merged = StageLog(run_dir, write=False)
    for log in logs:
        prefix = log.dir.parent.relative_to(run_dir).as_posix()
        merged.ran += [f"{prefix}/{n}" for n in log.ran]
        merged.cached += [f"{prefix}/{n}" for n in log.cached]
        merged.seconds.update({f"{prefix}/{n}": v for n, v in log.seconds.items()})
    return merged
