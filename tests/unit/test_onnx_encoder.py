"""Questions embedded without torch: the ONNX export of the embedding model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from rag.embedding import Embedder
from rag.onnx_encoder import MIN_COSINE, OnnxEncoder, export_path

QUESTION_FILES = ("questions", "train", "holdout", "blind", "blind2", "blind3")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A models folder holding the export of the default model, made as ingest makes it."""
    models = tmp_path_factory.mktemp("models")
    embedder = Embedder(models_dir=models)
    path = embedder.export_query_encoder()
    assert path is not None and path.exists() and path.parent == models / "onnx"
    return models


def test_onnx_vectors_match_the_model_on_every_eval_question(exported, embedder):
    questions = [
        json.loads(line)["question"]
        for name in QUESTION_FILES
        for line in (ROOT / "eval" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    encoder = OnnxEncoder.open(Embedder().model_files()[0], exported)
    assert encoder is not None
    onnx = encoder.embed(questions)
    torch = embedder.embed(questions)
    cosines = np.sum(onnx * torch, axis=1)
    assert len(questions) > 300 and float(cosines.min()) >= MIN_COSINE, float(cosines.min())
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)


def test_a_long_question_is_cut_where_the_model_cuts_it(exported, embedder):
    text = "sharpness-aware minimization " * 300  # far past 256 tokens
    encoder = OnnxEncoder.open(Embedder().model_files()[0], exported)
    assert float(encoder.embed([text])[0] @ embedder.embed([text])[0]) >= MIN_COSINE


def test_rag_ask_answers_without_importing_torch(exported, library_store):
    """The query path: chromadb, bm25s, onnxruntime and tokenizers, never torch."""
    code = (
        "import sys\n"
        "from rag.cli import main\n"
        "try:\n"
        "    main(['ask', 'What is grokking?', '--store', sys.argv[1]])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code)\n"
    )
    env = {**os.environ, "RAG_MODELS_DIR": str(exported)}
    done = subprocess.run(
        [sys.executable, "-c", code, str(library_store)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert done.stdout.strip().endswith("NO-TORCH 0"), (done.stdout, done.stderr)
    assert "[1]" in done.stdout and "grokking" in done.stdout.lower()


def test_without_an_export_questions_go_through_the_model(tmp_path, embedder):
    bare = Embedder(models_dir=tmp_path)  # nothing exported here
    assert not export_path(bare.model_files()[0], tmp_path).exists()
    question = "What is grokking?"
    assert float(bare.embed_one(question) @ embedder.embed([question])[0]) > 0.99999


def test_a_damaged_export_falls_back_to_the_model(tmp_path, embedder):
    models = tmp_path / "models"
    target = export_path(Embedder().model_files()[0], models)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx graph")
    damaged = Embedder(models_dir=models)
    question = "How does label smoothing affect calibration?"
    assert float(damaged.embed_one(question) @ embedder.embed([question])[0]) > 0.99999
