"""The nightly fuzz run: tests/integration/test_fuzz.py with many generated inputs per parser.

    python bench/fuzz_run.py                    # 10,000 inputs per parser
    python bench/fuzz_run.py --examples 50000 --out eval/out/fuzz.json

`make test` runs the same tests with 200 inputs per parser. This script only sets
RAG_FUZZ_EXAMPLES and RAG_FUZZ_REPORT, runs pytest, and prints the figures: inputs
tried per parser and the largest memory peak seen (for RELIABILITY.md).
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
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per parser")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "out" / "fuzz.json")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RAG_FUZZ_EXAMPLES": str(args.examples),
        "RAG_FUZZ_REPORT": str(args.out),
        "HF_HUB_OFFLINE": "1",
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_fuzz.py",
        ],
        cwd=ROOT,
        env=env,
    )
    minutes = (time.monotonic() - started) / 60
    figures = json.loads(args.out.read_text()) if args.out.exists() else {"inputs": {}}
    figures.update(examples_setting=args.examples, minutes=round(minutes, 1),
                   pytest_exit_code=result.returncode)  # fmt: skip
    args.out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\n{'parser':42} {'inputs':>8} {'peak MB':>9} {'for input MB':>13}")
    for label, count in figures["inputs"].items():
        peak, size = figures.get("peak_bytes", {}).get(label, (0, 0))
        print(f"{label:42} {count:8,} {peak / 2**20:9.1f} {size / 2**20:13.2f}")
    verdict = "all passed" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
    print(f"\n{verdict} in {minutes:.1f} min; figures in {args.out}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
