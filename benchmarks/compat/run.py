"""Load every medmat export with the real tools, each in a venv of its own.

    .venv/bin/python benchmarks/compat/run.py [--venvs /tmp/medmat-compat] [--only datasets3,lmms-eval]

Builds a small synthetic store with the medmat CLI (``medmat synth generate`` + ``medmat
build``), exports it in the formats the tools read, creates (once) a venv per tool with
``pip install`` of the tool, and runs the tool's check script (``check_*.py`` beside this
file) with that venv's Python. Prints one line per tool (versions that passed, or the
error) and writes them to ``--results``; exits 1 if any tool failed. The suite keeps
fast mirrors of these loaders (tests/test_export*.py); this is the slow, real check.
A tool whose install fails is reported with pip's last lines, never skipped silently.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEDMAT = [sys.executable, "-m", "medmat.cli.main"]

# tool -> (pip requirements, check script, export folder names it reads)
TOOLS: dict[str, tuple[list[str], str, list[str]]] = {
    "datasets3": (["datasets>=3,<4", "pillow", "pyyaml"], "check_datasets.py", ["parquet"]),
    "datasets4": (["datasets>=4,<5", "pillow", "pyyaml"], "check_datasets.py", ["parquet"]),
    "lmms-eval": (["lmms-eval"], "check_lmms_eval.py", ["lmms-eval"]),
    "ms-swift": (["ms-swift"], "check_swift.py", ["swift", "swift-copied"]),
    "llamafactory": (["llamafactory"], "check_llamafactory.py", ["sharegpt", "sharegpt-copied"]),
}
EXPORTS = {  # folder -> medmat export arguments
    "parquet": ["-f", "parquet"], "lmms-eval": ["-f", "lmms-eval", "--split", "test"],
    "swift": ["-f", "swift"], "swift-copied": ["-f", "swift", "--copy-images"],
    "sharegpt": ["-f", "sharegpt"], "sharegpt-copied": ["-f", "sharegpt", "--copy-images"],
}


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def build_exports(work: Path) -> Path:
    raw, store = work / "synth", work / "store"
    for cmd in (MEDMAT + ["synth", "generate", str(raw), "--per-label", "6", "--modality", "CT", "--area", "Lung"],
                MEDMAT + ["build", "--catalog", str(raw / "catalog.yaml"), "--data-root", str(raw / "raw"), "--all",
                          "--out", str(store)]):
        res = sh(cmd)
        if res.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    for folder, args in EXPORTS.items():
        res = sh(MEDMAT + ["export", str(store), *args, "--out", str(work / folder)])
        if res.returncode:
            sys.exit(f"medmat export {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return store


def ensure_venv(path: Path, reqs: list[str]) -> str | None:
    """The venv's python, after installing ``reqs`` once; None and the reason on failure."""
    py = path / "bin" / "python"
    marker = path / ".medmat-compat-installed"
    if marker.is_file():
        return None
    if not py.is_file():
        res = sh([sys.executable, "-m", "venv", str(path)])
        if res.returncode:
            return res.stderr[-2000:]
    res = sh([str(py), "-m", "pip", "install", "-q", *reqs])
    if res.returncode:
        return "pip install failed:\n" + (res.stderr or res.stdout)[-3000:]
    marker.write_text(" ".join(reqs) + "\n")
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venvs", type=Path, default=Path(tempfile.gettempdir()) / "medmat-compat")
    ap.add_argument("--only", default="", help="comma-separated tools (default: all): " + ", ".join(TOOLS))
    ap.add_argument("--results", type=Path, default=None, help="write the JSON results here")
    a = ap.parse_args()
    only = [t for t in a.only.split(",") if t] or list(TOOLS)
    unknown = sorted(set(only) - set(TOOLS))
    if unknown:
        sys.exit(f"unknown tools {unknown}; known: {', '.join(TOOLS)}")
    results = []
    with tempfile.TemporaryDirectory(prefix="medmat-compat-") as tmp:
        work = Path(tmp)
        build_exports(work)
        for tool in only:
            reqs, script, folders = TOOLS[tool]
            t0 = time.time()
            err = ensure_venv(a.venvs / tool, reqs)
            row: dict = {"tool": tool, "requirements": reqs}
            if err:
                row.update(ok=False, error=err)
            else:
                res = sh([str(a.venvs / tool / "bin" / "python"), str(HERE / script),
                          *(str(work / f) for f in folders)], cwd=work, timeout=1800)
                last = (res.stdout.strip().splitlines() or [""])[-1]
                if res.returncode == 0 and last.startswith("{"):
                    row.update(json.loads(last))
                else:
                    row.update(ok=False, error=(res.stderr or res.stdout)[-3000:])
            row["seconds"] = round(time.time() - t0, 1)
            results.append(row)
            status = "ok" if row.get("ok") else "FAILED"
            print(f"{tool}: {status} {json.dumps({k: v for k, v in row.items() if k not in ('tool', 'error')})}")
            if not row.get("ok"):
                print(row["error"], file=sys.stderr)
    if a.results:
        a.results.write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if all(r.get("ok") for r in results) else 1)


if __name__ == "__main__":
    main()
