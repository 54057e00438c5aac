"""How long `medmat --help` takes, against bare Python and a bare typer app measured in the
same run, and whether starting the CLI imports torch.

    .venv/bin/python benchmarks/bench_cli_startup.py [--repeats 7]

Prints the median wall time of each command over ``--repeats`` runs and the ratios
medmat/python and medmat/typer. The goal of issue 10: `medmat --help` under 1 s, no torch.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def median_seconds(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    runs = {
        "python -c pass": [py, "-c", "pass"],
        "bare typer app --help": [py, "-c", "import typer; app = typer.Typer(); app.command()(lambda: None); app()",
                                  "--help"],
        "medmat --help": [str(BIN / "medmat"), "--help"],
        "medmat train --help": [str(BIN / "medmat"), "train", "--help"],
    }
    median_seconds(runs["medmat --help"], 1)  # warm the file cache
    got = {name: median_seconds(cmd, args.repeats) for name, cmd in runs.items()}
    for name, secs in got.items():
        print(f"{name:28s} {secs:7.3f} s")
    print(f"medmat --help / python: {got['medmat --help'] / got['python -c pass']:.1f}x; "
          f"/ bare typer: {got['medmat --help'] / got['bare typer app --help']:.1f}x")
    heavy = subprocess.run([py, "-c", "import sys, medmat.cli.main; print(sorted({m.split('.')[0] for m in "
                            "sys.modules} & {'torch', 'transformers', 'trl', 'peft', 'numpy'}))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    print(f"heavy modules imported by `import medmat.cli.main`: {heavy}")


if __name__ == "__main__":
    main()
