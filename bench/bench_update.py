"""Benchmark: what a small ingest costs a large library, now that the library index is
updated for the papers a write touched instead of rebuilt from the whole store.

    .venv/bin/python bench/bench_update.py --store eval/out/bench/store_100000_random_embedded

On an existing store (bench.py leaves them in eval/out/bench/), in one process: open
the library, ingest --papers new papers (embedded by the model), remove them again
(the store ends with the papers it started with), then open the library with no saved
index, which is what every write cost before (the index read whole from the store).
Prints the timings and writes them to eval/out/bench_update.json, keyed by store.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "eval" / "out" / "bench_update.json"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path)
    parser.add_argument("--papers", type=int, default=10, help="papers added, then removed")
    args = parser.parse_args()

    from rag import library_index
    from rag.config import Config
    from rag.engine import Engine

    config = Config.from_env({}, store=args.store)
    engine = Engine(config)
    engine.embedder.embed(["warm up"])  # the model's load is not the write's cost
    started = time.perf_counter()
    papers = engine.count()
    out: dict = {"papers": papers, "open_s": time.perf_counter() - started,
                 "opened_from": engine.opened_from, "added": args.papers}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        new = Path(tmp) / "new.jsonl"
        with new.open("w") as f:
            for i in range(args.papers):
                record = {"title": f"Benchmark update paper {i} on sparse training",
                          "abstract": f"We study sparse training {i}. It converges faster "
                                      "than dense training. Code is released."}  # fmt: skip
                f.write(json.dumps(record) + "\n")
        started = time.perf_counter()
        report = engine.ingest([new])
        out |= {"ingest_s": time.perf_counter() - started, "ingest_index": engine.opened_from}
        assert report.added == args.papers, report.summary()
    added = [p.paper_id for p in engine.papers() if p.title.startswith("Benchmark update")]
    started = time.perf_counter()
    engine.remove(added)
    out |= {"remove_s": time.perf_counter() - started, "remove_index": engine.opened_from}
    assert engine.count() == papers
    shutil.rmtree(library_index.index_dir(args.store, config.collection), ignore_errors=True)
    whole = Engine(config, embedder=engine.embedder)
    started = time.perf_counter()
    whole.count()
    out |= {"whole_s": time.perf_counter() - started, "whole_index": whole.opened_from,
            "load": round(os.getloadavg()[0], 2)}  # fmt: skip
    print(json.dumps(out))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[os.path.relpath(args.store.resolve(), ROOT)] = out
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
