"""Real multi-process launches for the tests: 2 CPU processes talking over gloo stand in for 2 GPUs.

``launch(commands, ...)`` runs ``accelerate launch --config_file examples/accelerate/ddp-cpu.yaml
-m helpers.distributed CMD [:: CMD ...]``: the same launcher and config a user runs, with this
module as the program. Each process runs the medmat commands one after another (``::``
separates them; one launch pays the start-up of torch once). This module, run as a
program, also

* records every file that a process other than rank 0 opens for writing or renames into
  place from Python (an audit hook; ``written(log_dir)`` reads the records back), and
  marks the files such a process creates from native code (torch.save, safetensors),
  which no audit hook sees, by its umask: they are group-writable, rank 0's are not
  (``marked(root)`` lists them). That is how the tests check that only rank 0 writes
  shared files;
* injects a fault when ``MEDMAT_TEST_FAULT`` asks for one: ``score-error:R`` (rank R's
  option scorer raises), ``score-exit:R`` (rank R dies while scoring) or
  ``train-exit:R:S`` (rank R dies as training step S+2 begins: step S+1 was all-reduced,
  so rank 0 has finished writing checkpoint S by then).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "accelerate" / "ddp-cpu.yaml"
SEP = "::"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(commands: list[list[str]], cwd: Path, log_dir: Path | None = None, fault: str | None = None,
           processes: int = 2, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run medmat ``commands`` (argument lists) in every process of one launch."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "MEDMAT_PROGRESS_EVERY": "1000000",
                "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), env.get("PYTHONPATH", "")])})
    env.pop("MEDMAT_TEST_FAULT", None)
    if fault:
        env["MEDMAT_TEST_FAULT"] = fault
    if log_dir is not None:
        env["MEDMAT_TEST_WRITES"] = str(log_dir)
    args: list[str] = []
    for cmd in commands:
        args += ([SEP] if args else []) + [str(a) for a in cmd]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG),
           "--num_processes", str(processes), "--main_process_port", str(free_port()),
           "-m", "helpers.distributed", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def marked(root: Path) -> list[str]:
    """Files under ``root`` created by a rank other than 0 (group-writable: that rank's umask)."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*")
                  if p.is_file() and p.stat().st_mode & 0o020)


def written(log_dir: Path) -> dict[int, list[str]]:
    """rank -> files it wrote (ranks other than 0 only), as recorded by the audit hook."""
    out: dict[int, list[str]] = {}
    for p in sorted(Path(log_dir).glob("rank*.json")):
        out[int(p.stem[4:])] = json.loads(p.read_text())
    return out


# -- the worker: what each process of a launch runs -------------------------------------------
def _record_writes(log_dir: Path, rank: int) -> None:
    import atexit

    seen: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            mode, flags = args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing:
                seen.append(os.fsdecode(args[0]))
        elif event in ("os.rename", "os.replace"):
            seen.append(os.fsdecode(args[1]))
        elif event == "os.mkdir":
            seen.append(os.fsdecode(args[0]) + "/")

    sys.addaudithook(hook)

    def dump() -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / f"rank{rank}.json").write_text(json.dumps(sorted(set(seen))))

    atexit.register(dump)


def _inject(fault: str, rank: int) -> None:
    kind, who, *rest = fault.split(":")
    if int(who) != rank:
        return
    if kind in ("score-error", "score-exit"):
        from medmat.evaluate import scorers

        def broken(*a: Any, **kw: Any) -> Any:
            if kind == "score-exit":
                os._exit(3)
            raise ValueError("injected failure while scoring")

        scorers.SCORERS.add("option", broken, replace=True)
    elif kind == "train-exit":
        from transformers import Trainer

        after, original = int(rest[0]), Trainer.training_step

        def training_step(self: Any, *a: Any, **kw: Any) -> Any:
            # Step after+1 is over on every rank (its gradients were all-reduced), so rank 0
            # has finished writing checkpoint `after` before this rank dies.
            if self.state.global_step >= after + 1:
                os._exit(3)
            return original(self, *a, **kw)

        Trainer.training_step = training_step
    else:
        raise ValueError(f"unknown MEDMAT_TEST_FAULT {fault!r}")


def main(argv: list[str]) -> int:
    rank = int(os.environ.get("RANK", "0"))
    if os.environ.get("MEDMAT_TEST_WRITES"):
        os.umask(0o022 if rank == 0 else 0o002)
        if rank != 0:
            _record_writes(Path(os.environ["MEDMAT_TEST_WRITES"]), rank)
    if os.environ.get("MEDMAT_TEST_FAULT"):
        _inject(os.environ["MEDMAT_TEST_FAULT"], rank)
    from medmat.cli.main import app

    commands: list[list[str]] = [[]]
    for a in argv:
        if a == SEP:
            commands.append([])
        else:
            commands[-1].append(a)
    for cmd in commands:
        code = app(cmd, standalone_mode=False, prog_name="medmat")
        if code:
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
