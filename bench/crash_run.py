"""The nightly crash run: tests/integration/test_crash.py with more kill points, a larger input and
fresh `python -m rag.cli ingest` processes at ingest's own batch size.

    python bench/crash_run.py                           # 40 + 10 + 12 kill points, fresh
    python bench/crash_run.py --points 200 --papers 600 --fork --batch 16

`make test` runs the same tests with 20 + 6 + 3 kill points (new library, update,
vector-index flush) on 60 papers, forked from a server process that has the imports
done, in batches of 8. This script only sets the RAG_CRASH_* and RAG_*KILL_POINTS
variables, runs pytest, and prints the figures (kill points tried and survived, and
what the library looked like at each kill) for RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=40, help="kill points, new library")
    parser.add_argument("--update-points", type=int, default=10, help="kill points, update")
    parser.add_argument("--flush-points", type=int, default=12, help="kill points, index flush")
    parser.add_argument("--papers", type=int, default=300, help="papers in the generated file")
    parser.add_argument("--batch", type=int, default=0, help="papers per batch (0: ingest's own)")
    parser.add_argument(
        "--chain", type=int, default=1, help="kills in a row before a run may finish"
    )
    parser.add_argument("--fork", action="store_true", help="fork runs from a server process")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "crash.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RAG_KILL_POINTS": str(args.points),
        "RAG_UPDATE_KILL_POINTS": str(args.update_points),
        "RAG_FLUSH_KILL_POINTS": str(args.flush_points),
        "RAG_CRASH_PAPERS": str(args.papers),
        "RAG_CRASH_BATCH": str(args.batch),
        "RAG_CRASH_CHAIN": str(args.chain),
        "RAG_CRASH_FRESH": "0" if args.fork else "1",
        "RAG_CRASH_REPORT": str(args.out),
        "HF_HUB_OFFLINE": "1",
    }
    args.out.unlink(missing_ok=True)
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_crash.py",
        ],
        cwd=ROOT,
        env=env,
    )
    minutes = (time.monotonic() - started) / 60
    if not args.out.exists():
        print(f"FAILED (exit {result.returncode}) after {minutes:.1f} min: no figures written")
        return result.returncode or 1
    figures = json.loads(args.out.read_text())
    figures.update(minutes=round(minutes, 1), pytest_exit_code=result.returncode)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    verdict = "all survived" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
    for name, run in figures.items():
        if isinstance(run, dict):
            print(f"{name}: {run['survived']}/{run['kill_points']} kill points survived")
    print(f"{verdict} in {minutes:.1f} min")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
