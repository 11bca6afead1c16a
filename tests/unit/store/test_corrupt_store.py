"""A damaged or mismatched store: a clear one-line message naming the fix, through the
real CLI, and `rag ingest --rebuild` recovers from every case.

    damaged database file (truncated, garbage bytes)   -> cannot open the store ...
    damaged vector index segment (HNSW files)          -> the store ... failed ...
    built with another embedding model or dimension    -> ... built with embedding model ...
    written by another version (rag_schema)            -> ... written by another version ...

Each message must name `rag ingest --rebuild`, exit non-zero, print no traceback and
no answer; after the rebuild the library answers again.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_rag

REBUILD = "rag ingest --rebuild"
QUESTION = "How are certified defenses trained?"
PAPERS = [
    ("Certified Training with Small Boxes", "We train certified defenses with small boxes. "
     "The boxes are propagated through the network."),
    ("Interval Bound Propagation Explained", "Interval bound propagation gives certified "
     "robustness. We explain why it works."),
    ("Sparse Rate Reduction Transformers", "We derive transformers from sparse rate "
     "reduction. The layers compress tokens."),
    ("Grokking in Modular Arithmetic", "Networks generalise long after fitting the training "
     "set. We study this delay."),
    ("Machine Unlearning Benchmarks", "We benchmark unlearning methods. Forgetting is "
     "measured on held-out data."),
]  # fmt: skip
HNSW_ROWS = 1200  # above Chroma's sync threshold (1000): the vector index is written to disk


@pytest.fixture(scope="module")
def papers_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corrupt") / "papers.jsonl"
    with path.open("w") as f:
        for title, abstract in PAPERS:
            f.write(json.dumps({"title": title, "abstract": abstract, "year": 2023}) + "\n")
    return path


def _engine(store: Path, embedder):
    from rag.config import Config
    from rag.engine import Engine

    _forget_clients()
    return Engine(Config.from_env({}, store=store), embedder=embedder)


def _forget_clients() -> None:
    """Chroma caches a client per path; the CLI changed the files behind its back."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


@pytest.fixture(scope="module")
def good_store(tmp_path_factory, papers_file, embedder) -> Path:
    store = tmp_path_factory.mktemp("good") / "store"
    assert _engine(store, embedder).ingest([papers_file]).added == len(PAPERS)
    _forget_clients()
    return store


@pytest.fixture(scope="module")
def big_store(tmp_path_factory, embedder) -> Path:
    """A store whose chunk collection holds more rows than Chroma keeps in memory only,
    so its HNSW index files are on disk (random unit vectors: no model needed)."""
    from rag.ingest import prepare
    from rag.store import Store
    from rag.types import Paper

    store = tmp_path_factory.mktemp("big") / "store"
    engine = _engine(store, embedder)
    rng = np.random.default_rng(3)
    items = [
        prepare(
            Paper.create(f"Paper {i} on topic {i % 17}", f"Abstract {i}. It has two sentences."),
            engine.settings_fingerprint,
            320,
            48,
        )
        for i in range(HNSW_ROWS)
    ]
    chunk_vectors = _unit(rng, sum(len(i.chunks) for i in items), embedder.dim)
    sentence_vectors = _unit(rng, sum(len(i.sentences) for i in items), embedder.dim)
    assert isinstance(engine.store, Store)
    engine.store.add(items, chunk_vectors, sentence_vectors)
    _forget_clients()
    assert _segment_files(store), "Chroma wrote no HNSW files"
    return store


def _unit(rng, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _segment_files(store: Path) -> list[Path]:
    return sorted(p for p in store.glob("*/*") if p.name in ("header.bin", "data_level0.bin"))


# ---------------------------------------------------------------- the damage


def truncate_sqlite(store: Path) -> None:
    db = store / "chroma.sqlite3"
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 3)


def garbage_sqlite(store: Path) -> None:
    db = store / "chroma.sqlite3"
    rng = random.Random(5)
    with db.open("r+b") as f:
        for offset in (0, db.stat().st_size // 2):
            f.seek(offset)
            f.write(bytes(rng.randrange(256) for _ in range(4096)))


def garbage_hnsw_header(store: Path) -> None:
    for path in _segment_files(store):
        if path.name == "header.bin":
            path.write_bytes(os.urandom(path.stat().st_size))


def truncate_hnsw_data(store: Path) -> None:
    for path in _segment_files(store):
        if path.name == "data_level0.bin":
            with path.open("r+b") as f:
                f.truncate(path.stat().st_size // 10)


def other_model(store: Path) -> None:
    _recreate(store, {"rag_embed_model": "all-mpnet-base-v2", "rag_dim": 768})


def older_version(store: Path) -> None:
    _recreate(store, {"rag_schema": 1})


def _recreate(store: Path, changes: dict) -> None:
    """Replace the library's collections by ones with other metadata, as another model
    or an older release would have written them."""
    import chromadb
    from chromadb.config import Settings

    from rag.store import SCHEMA_VERSION

    _forget_clients()
    client = chromadb.PersistentClient(str(store), settings=Settings(anonymized_telemetry=False))
    for collection in client.list_collections():
        client.delete_collection(collection.name)
    meta = {"rag_schema": SCHEMA_VERSION, "rag_embed_model": "all-MiniLM-L6-v2", "rag_dim": 384,
            "hnsw:space": "cosine", **changes}  # fmt: skip
    for suffix in ("", "_sentences", "_files"):
        collection = client.get_or_create_collection("papers" + suffix, metadata=meta)
        dim = meta["rag_dim"] if suffix == "" else 1
        collection.add(
            ids=["x"], embeddings=[[1.0] + [0.0] * (dim - 1)], metadatas=[{"paper_id": "x"}]
        )
    _forget_clients()


CASES = {
    "sqlite truncated": ("good", truncate_sqlite, "cannot open the store"),
    "sqlite garbage bytes": ("good", garbage_sqlite, "cannot open the store"),
    "hnsw header garbage": ("big", garbage_hnsw_header, "failed"),
    "hnsw data truncated": ("big", truncate_hnsw_data, "failed"),
    "other embedding model": ("good", other_model, "built with embedding model 'all-mpnet-base-v2' (dim 768)"),
    "older version": ("good", older_version, "written by another version (schema 1"),
}  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    """stderr without the model loader's progress bar (printed on every start)."""
    lines = [line.split("\r")[-1] for line in stderr.splitlines()]
    return [line for line in lines if line.strip() and "Loading weights" not in line]


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_store_gets_one_clear_line_and_rebuild_recovers(
    case, good_store, big_store, papers_file, tmp_path, embedder
):
    source, damage, words = CASES[case]
    store = tmp_path / "store"
    shutil.copytree(good_store if source == "good" else big_store, store)
    damage(store)

    asked = run_rag("ask", QUESTION, "--store", str(store))
    lines = error_lines(asked.stderr)
    assert asked.returncode == 1, asked.stdout + asked.stderr
    assert "Traceback" not in asked.stderr + asked.stdout
    assert len(lines) == 1, asked.stderr
    assert lines[0].startswith("Error: ") and words in lines[0] and REBUILD in lines[0], lines[0]
    assert str(store) in lines[0]
    assert not asked.stdout.strip(), "an answer from a damaged store"
    print(json.dumps({case: lines[0]}))  # for RELIABILITY.md

    rebuilt = run_rag("ingest", "--rebuild", str(papers_file), "--store", str(store))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"library now holds {len(PAPERS)} papers" in rebuilt.stdout
    engine = _engine(store, embedder)
    assert engine.count() == len(PAPERS)
    answer = engine.ask(QUESTION)
    assert answer.citations and not answer.refused
    assert answer.citations[0].paper.title in {title for title, _ in PAPERS[:2]}
    _forget_clients()


def test_rebuild_leaves_unrelated_files_alone(good_store, papers_file, tmp_path):
    """--rebuild removes the store's own files only, even when the database is unreadable."""
    store = tmp_path / "store"
    shutil.copytree(good_store, store)
    (store / "notes.txt").write_text("mine")
    (store / "keep").mkdir()
    (store / "keep" / "data.csv").write_text("a,b\n")
    garbage_sqlite(store)
    rebuilt = run_rag("ingest", "--rebuild", str(papers_file), "--store", str(store))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (store / "notes.txt").read_text() == "mine"
    assert (store / "keep" / "data.csv").read_text() == "a,b\n"
