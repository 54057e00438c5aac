"""A study's trainings: one per (manifest, arm, variant), and several at once on a CPU.

Each arm's training is the stage ``train/<key>``, keyed by what determines the model
(``medmat.train.train_key``), so arms with one training set share one model. The runner
trains arms one after the other. With ``train_workers: N`` (a backbone with
``parallel_fits``, one process) the trainings not done yet first run N at a time, each in
its own process with ``cores / N`` torch threads, through the same ``train_arm``; each is
recorded as its stage, and the runner's loop then finds it done and only evaluates.

The result of a training does not depend on N: it depends on its items, settings and its
torch thread count, which the study fixes with ``train.extra.threads`` (the reference
model; the thread count is in every training record). Without that setting a worker's
default is ``cores / N`` threads, so N can change the floating-point details.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from medmat.models.base import ModelConfig, TrainConfig
from medmat.progress import Reporter
from medmat.runtime import content_key
from medmat.study.cache import StageLog


@dataclass(frozen=True)
class ArmTraining:
    """One arm's training request in a study run."""

    manifest_path: Path
    manifest: Any  # medmat.plan.Manifest
    arm: Any  # its Arm
    variant: str | None
    model: ModelConfig
    config: TrainConfig
    key: str  # medmat.train.train_key: equal keys, one model
    out_dir: Path

    @property
    def label(self) -> str:
        return f"{self.manifest.target} / {self.arm.name}" + (f" ({self.variant})" if self.variant else "")

    @property
    def stage(self) -> str:
        return f"train/{self.key}"


def arm_trainings(loaded: list[tuple[Path, Any]], model: ModelConfig, variants: list[tuple[str | None, TrainConfig]],
                  run_dir: Path) -> list[ArmTraining]:
    """Every (manifest, arm, variant) of a run, in the runner's order."""
    from medmat.train import train_key
    from medmat.train.run import arm_transform

    out = []
    for mpath, manifest in loaded:
        for arm in manifest.arms:
            for variant, tcfg in variants:
                key = train_key(manifest.store_fingerprint, arm.train, model, tcfg,
                                arm_transform(arm, manifest.target_subset))
                out.append(ArmTraining(mpath, manifest, arm, variant, model, tcfg, key, run_dir / "models" / key))
    return out


def check_workers(workers: int, model: ModelConfig) -> None:
    """A clear error for ``train_workers`` > 1 where it cannot apply."""
    if workers <= 1:
        return
    from medmat.models import BACKBONES
    from medmat.runtime import world_size

    if not BACKBONES.get(model.backbone).parallel_fits:
        raise ValueError(f"train_workers {workers}: backbone {model.backbone!r} does not train in several CPU "
                         "processes at once (only backbones with parallel_fits, e.g. 'reference'); set train_workers: 1")
    if world_size() > 1:
        raise ValueError(f"train_workers {workers} cannot be combined with a multi-process launch "
                         f"(WORLD_SIZE={world_size()}); set train_workers: 1")


def worker_threads(workers: int) -> int:
    """Default torch threads of each of ``workers`` processes: the cores shared out."""
    return max(1, (os.cpu_count() or 1) // workers)


def _init_worker(threads: int) -> None:
    from medmat.models.reference.config import THREADS_ENV

    os.environ.setdefault(THREADS_ENV, str(threads))  # an explicit $MEDMAT_THREADS is kept


def _train_one(manifest_path: str, arm: str, model: dict[str, Any], config: dict[str, Any], out_dir: str
               ) -> tuple[dict[str, Any], float]:
    """One training in a worker process: ``train_arm``, as the runner calls it."""
    from medmat.train import train_arm

    t0 = time.perf_counter()
    rec = train_arm(Path(manifest_path), arm, ModelConfig.model_validate(model), TrainConfig.model_validate(config),
                    Path(out_dir))
    return rec.model_dump(mode="json"), time.perf_counter() - t0


def train_pending(trainings: list[ArmTraining], workers: int, log: StageLog, reporter: Reporter) -> int:
    """Run the trainings whose stage is not done yet, ``workers`` processes at a time, and
    record each as its stage when it finishes; returns how many ran. The first failure
    stops the rest (queued ones are cancelled) and is raised with the arm's name."""
    todo: dict[str, ArmTraining] = {}
    for t in trainings:
        if t.arm.train and t.key not in todo and not log.is_done(t.stage, content_key(stage_key(t))):
            todo[t.key] = t
    if not todo:
        return 0
    threads = worker_threads(workers)
    reporter.say(f"training {len(todo)} arm(s), {workers} processes at a time ({threads} thread(s) each "
                 "unless train.extra.threads says otherwise)")
    t0 = time.perf_counter()
    ctx = get_context("spawn")  # never fork a process that has started torch's thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool, reporter.task("trainings", total=len(todo)) as task:
        futures: dict[Future, ArmTraining] = {}
        for t in todo.values():
            futures[pool.submit(_train_one, str(t.manifest_path), t.arm.name, t.model.model_dump(mode="json"),
                                t.config.model_dump(mode="json"), str(t.out_dir))] = t
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    t = futures[fut]
                    try:
                        record, secs = fut.result()
                    except Exception as e:  # noqa: BLE001 - re-raised with the arm's name
                        raise RuntimeError(f"training {t.label} failed: {e}") from e
                    log.record(t.stage, stage_key(t), record, secs)
                    reporter.say(f"{t.label}: trained on {len(t.arm.train)} items in {secs:.1f} s")
                    task.advance()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    # the wall time of the trainings (the stages' seconds add up every worker's time)
    log.seconds["train_wall"] = log.seconds.get("train_wall", 0.0) + time.perf_counter() - t0
    return len(todo)


def stage_key(t: ArmTraining) -> dict[str, Any]:
    """The key inputs of a training stage (the runner's ``log.run`` uses the same)."""
    return {"train": t.key}
