"""Shared fixtures: the real embedding model, a real Chroma store in a temporary
directory holding the bundled library (built once per session through the real
CLI), and copies of it for tests that change the library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
RAG = [sys.executable, "-m", "rag.cli"]


def run_rag(
    *args: str, env: dict | None = None, check: bool = False, timeout: float = 900
) -> subprocess.CompletedProcess:
    """The CLI through its real entry point, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [*RAG, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"rag {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def library_store(tmp_path_factory) -> Path:
    """A store holding the bundled library, ingested once by `rag ingest` (read-only)."""
    store = tmp_path_factory.mktemp("library") / "store"
    run_rag("ingest", "--store", str(store), check=True)
    return store


@pytest.fixture
def library_copy(library_store, tmp_path) -> Path:
    """A private copy of the library store, for tests that add or remove papers."""
    target = tmp_path / "store"
    shutil.copytree(library_store, target)
    return target


@pytest.fixture(scope="session")
def embedder():
    from rag.embedding import shared_embedder

    return shared_embedder()


@pytest.fixture(scope="session")
def engine(library_store, embedder):
    """One engine over the bundled library, shared read-only by tests."""
    from rag.config import Config
    from rag.engine import Engine

    return Engine(Config.from_env({}, store=library_store), embedder=embedder)
