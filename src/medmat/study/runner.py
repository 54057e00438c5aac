"""`medmat run STUDY.yaml`: data -> store -> plans -> one training per distinct arm -> evals -> results.

Every stage is keyed by content (StageLog): a re-run with nothing changed does nothing,
and an interrupted study continues where it stopped (training also resumes from its own
checkpoints). Arms with identical training sets share one model (all zero-shot arms share
the untrained model), so a study never trains the same thing twice.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Callable

from medmat.io import sha256_file
from medmat.study.aggregate import aggregate
from medmat.study.cache import StageLog, content_key, provenance
from medmat.study.config import StudyConfig

Say = Callable[[str], None]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _file_keys(paths: list[Path]) -> list[str]:
    return [sha256_file(p) for p in paths]


def _portable(path: Path | None, run_dir: Path) -> str | None:
    """A path as it enters a stage key: relative when inside the run folder, so a moved run stays cached."""
    if path is None:
        return None
    try:
        return Path(path).resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def prepare_data(cfg: StudyConfig, run_dir: Path, log: StageLog, say: Say) -> tuple[list[Path], Path | None]:
    """Generate the synthetic benchmark when asked; return (catalog files, data root)."""
    if cfg.data.synth is None:
        return [cfg.resolve(c) for c in cfg.data.catalogs], cfg.resolve(cfg.data.data_root)
    from medmat.synth import SynthConfig, generate

    s = cfg.data.synth
    out = run_dir / "data" / "synth"
    synth_cfg = SynthConfig(seed=s.seed, size=s.size, per_label=s.per_label, **s.options)

    def _gen() -> dict[str, Any]:
        say(f"generating the synthetic MAT benchmark ({s.size}px, {s.per_label} images per label) ...")
        generate(out, synth_cfg, workers=cfg.data.workers)
        return {"catalog": str(out / "catalog.yaml")}

    log.run("synth", {"synth": synth_cfg.model_dump(mode="json")}, _gen)
    return [out / "catalog.yaml"], out / "raw"


def build(cfg: StudyConfig, run_dir: Path, log: StageLog, say: Say) -> Path:
    """Build (or reuse) the VQA store from the catalog files and/or released json."""
    from medmat.catalog import load_catalog
    from medmat.pipeline import BuildSettings, build_store
    from medmat.pipeline.plan import plan_from_catalog

    catalogs, data_root = prepare_data(cfg, run_dir, log, say)
    store_dir = run_dir / "store"
    d = cfg.data
    settings = BuildSettings(seed=cfg.seed, cap=d.cap, max_side=d.max_side, workers=d.workers)
    key = {"catalogs": _file_keys(catalogs), "data_root": _portable(data_root, run_dir), "datasets": d.datasets,
           "settings": settings.__dict__, "json": _file_keys(cfg.resolve_glob(d.medmat_json))}

    def _build() -> dict[str, Any]:
        if d.medmat_json:
            from medmat.pipeline.importer import import_medmat

            say(f"importing {len(d.medmat_json)} released Med-MAT json file(s) ...")
            import_medmat(cfg.resolve_glob(d.medmat_json), cfg.resolve(d.image_root or "."),
                          store_dir, load_catalog(catalogs), settings=settings)
            return {"store": str(store_dir)}
        cat = load_catalog(catalogs)
        jobs, subsets, missing = plan_from_catalog(cat, list(d.datasets), not d.datasets, data_root)
        if missing:
            say(f"not built (input missing under {data_root}): {', '.join(missing)}")
        say(f"building the VQA store from {len(jobs)} dataset(s) ...")
        summary, _ = build_store(jobs, subsets, data_root, store_dir, settings)
        return {"store": str(store_dir), "items": summary.get("totals", {}).get("items")}

    log.run("build", key, _build)
    return store_dir


def plan(cfg: StudyConfig, store_dir: Path, run_dir: Path, log: StageLog, say: Say) -> list[Path]:
    from medmat.plan import PlanConfig, load_manifest, plan_target, save_manifest
    from medmat.plan.study import eligible_targets
    from medmat.store import VQAStore

    store = VQAStore(store_dir)
    p = cfg.plan
    pc = PlanConfig(arms=p.arms, directions=p.directions or None, max_per_direction=p.max_per_direction,
                    cap=p.cap if p.cap is not None else cfg.data.cap, train_size=p.max_train, ks=p.low_data_k,
                    seed=cfg.seed)
    targets = list(p.targets) or eligible_targets(store, pc)[0]
    if not targets:
        raise ValueError(f"no target in {store_dir} has test items and both related and unrelated subsets")
    paths = []
    for target in targets:
        path = run_dir / "plans" / f"{slug(target)}.json"

        def _plan(target=target, path=path) -> dict[str, Any]:
            save_manifest(plan_target(store, target, pc, manifest_path=path), path)
            return {"manifest": str(path)}

        log.run(f"plan/{slug(target)}", {"store": store.fingerprint(), "plan": pc.model_dump(mode="json"),
                                         "target": target}, _plan)
        load_manifest(path)  # validated on load
        paths.append(path)
    say(f"planned {len(paths)} target(s)")
    return paths


def model_key(cfg: StudyConfig, train_ids: list[str], fingerprint: str) -> str:
    return content_key({"model": cfg.model.model_dump(mode="json"), "train": cfg.train.model_dump(mode="json"),
                        "ids": content_key(sorted(train_ids)), "store": fingerprint})


def train_and_eval(cfg: StudyConfig, store_dir: Path, manifests: list[Path], run_dir: Path, log: StageLog,
                   say: Say, progress: Callable[[str], None] | None = None) -> None:
    from medmat.evaluate import evaluate, write_results
    from medmat.models import discover_backbones
    from medmat.plan import load_manifest
    from medmat.store import VQAStore

    BACKBONES = discover_backbones()
    store = VQAStore(store_dir)
    by_id = store.by_id()
    cls = BACKBONES.get(cfg.model.backbone)
    fp = store.fingerprint()
    for mpath in manifests:
        manifest = load_manifest(mpath)
        for arm in manifest.arms:
            mkey = model_key(cfg, arm.train, fp)
            ckpt = run_dir / "models" / mkey

            def _train(arm=arm, ckpt=ckpt) -> dict[str, Any]:
                base = cfg.resolve(cfg.model.path) if cfg.model.path else None
                # a fresh (randomly initialised) model takes the study seed; a pretrained one has weights
                opts = {"seed": cfg.seed, **cfg.model.options} if base is None else dict(cfg.model.options)
                model = cls.load(base, **opts)
                if not arm.train:
                    say(f"{manifest.target} / {arm.name}: zero-shot, no training")
                    model.save(ckpt)
                    return {"checkpoint": str(ckpt), "trained": False}
                say(f"{manifest.target} / {arm.name}: training on {len(arm.train)} items ...")
                facts = model.fit([by_id[i] for i in arm.train], store.root, ckpt, cfg.train)  # saves to ckpt
                return {"checkpoint": str(ckpt), "trained": True, **{k: v for k, v in (facts or {}).items()
                                                                     if isinstance(v, (int, float, str))}}

            log.run(f"train/{mkey}", {"model": mkey}, _train)
            out = run_dir / "evals" / slug(manifest.target) / arm.name
            jobs = [(f"eval/{slug(manifest.target)}/{arm.name}", out, [by_id[i] for i in arm.test], cfg.eval.scorers),
                    # the same model on test items of the subsets it trained on: what it learned where it was trained
                    (f"eval/{slug(manifest.target)}/{arm.name}/in-distribution", out / "in-distribution",
                     _in_distribution_items(store, arm, manifest.target_subset, cfg.seed), ["option"])]
            for name, where, items, scorers in jobs:
                if not items or not is_main_process():  # under accelerate, rank 0 evaluates
                    continue

                def _eval(ckpt=ckpt, where=where, items=items, scorers=scorers) -> dict[str, Any]:
                    e = cfg.eval
                    res = evaluate(cls.load(ckpt, **cfg.model.options), items, store.root, scorers=scorers,
                                   circular=e.circular, batch_size=e.batch_size, max_new_tokens=e.max_new_tokens,
                                   seed=cfg.seed, n_boot=e.bootstrap)
                    write_results(res, where)
                    return {"results": str(where), "n": len(items)}

                log.run(name, {"model": mkey, "test": content_key([it.item_id for it in items]),
                               "scorers": scorers, "eval": cfg.eval.model_dump(mode="json")}, _eval)
            if progress:
                progress(arm.name)


IN_DISTRIBUTION_MAX = 200


def _in_distribution_items(store: Any, arm: Any, target_subset: str, seed: int) -> list:
    """Test items of the subsets an arm trained on (at most IN_DISTRIBUTION_MAX, label-balanced):
    what the model learned where it was trained, to set beside what it does on the unseen target."""
    from medmat.store import cap_balanced

    pool = [it for sid in arm.train_subsets if sid != target_subset for it in store.items(sid, "test")]
    return cap_balanced(pool, IN_DISTRIBUTION_MAX, seed) if arm.train else []


def n_arms(manifests: list[Path]) -> int:
    from medmat.plan import load_manifest

    return sum(len(load_manifest(p).arms) for p in manifests)


UNTIL = ("build", "plan", "train", "report")


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run_study(cfg: StudyConfig, run_dir: str | Path, say: Say = lambda s: None,
              arm_progress: Callable[[int], Callable[[str], None]] | None = None, until: str = "report"):
    """Run the stages of a study into ``run_dir`` up to ``until``; returns (StudyResults | None, StageLog).

    Under ``accelerate launch`` (WORLD_SIZE > 1) every rank trains together, but the data
    and plan stages must already be done (``medmat run STUDY --until plan`` once, in one
    process) and only rank 0 evaluates and writes results.
    """
    if until not in UNTIL:
        raise ValueError(f"until must be one of {', '.join(UNTIL)}, got {until!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = StageLog(run_dir, write=is_main_process())
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        log.require_cached = ("synth", "build", "plan/")
    store_dir = build(cfg, run_dir, log, say)
    if until == "build":
        return None, log
    manifests = plan(cfg, store_dir, run_dir, log, say)
    if until == "plan":
        return None, log
    tick = arm_progress(n_arms(manifests)) if arm_progress else None
    train_and_eval(cfg, store_dir, manifests, run_dir, log, say, tick)
    if until == "train" or not is_main_process():
        return None, log
    results = aggregate(cfg, run_dir, manifests, provenance(cfg.model_dump(mode="json")))
    secs: dict[str, float] = {}
    for name, v in log.seconds.items():
        kind = name.split("/", 1)[0]
        secs[f"{kind}_s"] = round(secs.get(f"{kind}_s", 0.0) + v, 1)
    results.timings = {"total_s": round(time.perf_counter() - t0, 1), **secs}
    results.save(run_dir / "results.json")
    return results, log
