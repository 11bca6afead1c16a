"""Encode speed of the bundled MiniLM against a pulled stronger embedder, on the same
abstract sentences from data/, one run after the other in one process.

    .venv/bin/python bench/bench_embedders.py                 # 500 sentences, all-mpnet-base-v2
    .venv/bin/python bench/bench_embedders.py --sentences 200 --model all-mpnet-base-v2

Needs `rag models pull all-mpnet-base-v2` first. Prints texts/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.config import Config  # noqa: E402
from rag.embedding import Embedder  # noqa: E402
from rag.sentences import split_sentences  # noqa: E402
from rag.sources import ParseReport, parse_file  # noqa: E402


def abstract_sentences(data_dir: Path, count: int) -> list[str]:
    sentences: list[str] = []
    for path in sorted(data_dir.iterdir()):
        for paper in parse_file(path, ParseReport()):
            sentences.extend(split_sentences(paper.abstract))
            if len(sentences) >= count:
                return sentences[:count]
    return sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="all-mpnet-base-v2")
    args = parser.parse_args()
    config = Config.from_env()
    texts = abstract_sentences(config.data_dir, args.sentences)
    embedders = [
        Embedder(name, config.embed_batch_size, config.models_dir) for name in (None, args.model)
    ]
    for embedder in embedders:
        embedder.embed(texts[:8])  # load and warm up outside the timing
    # Interleaved rounds: on a shared machine the load changes from minute to minute,
    # and both models should see the same load. CPU seconds are less affected by it.
    wall = {e.name: 0.0 for e in embedders}
    cpu = dict(wall)
    step = -(-len(texts) // args.rounds)
    for start in range(0, len(texts), step):
        for embedder in embedders:
            w, c = time.perf_counter(), time.process_time()
            embedder.embed(texts[start : start + step])
            wall[embedder.name] += time.perf_counter() - w
            cpu[embedder.name] += time.process_time() - c
    for embedder in embedders:
        print(
            f"{embedder.name}: dim {embedder.dim}, {len(texts)} sentences, "
            f"{len(texts) / wall[embedder.name]:.1f} texts/s "
            f"({wall[embedder.name]:.1f} s wall, {cpu[embedder.name]:.1f} s CPU)"
        )
    small, large = (e.name for e in embedders)
    print(
        f"ratio {small} / {large}: {wall[large] / wall[small]:.1f}x by wall time, "
        f"{cpu[large] / cpu[small]:.1f}x by CPU time (batch {config.embed_batch_size}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
