"""Question embedding without torch: the embedding model exported once to ONNX.

Embedding a question needs a 22M-parameter encoder, not a deep-learning framework.
The first ingest (which loads torch anyway) exports the configured model, with its
mean pooling and normalisation inside the graph, to `RAG_MODELS_DIR/onnx/`; from then
on a query is tokenised with `tokenizers` and encoded with `onnxruntime` (both already
installed with Chroma), so `rag ask` never imports torch. The export is checked
against the torch encoder before it is kept (cosine at least MIN_COSINE on probe
texts); a missing or failed export leaves queries on torch, as before.

    encoder = OnnxEncoder.open(model_dir, models_dir)   # None when not exported yet
    vector = encoder.embed(["What is grokking?"])[0]
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MIN_COSINE = 0.999  # the exported graph must give the torch encoder's vectors
PROBES = (
    "How does sharpness-aware minimization improve generalization?",
    "papers by Sam Buchanan since 2023",
    "Which benchmark has 1.8 trillion tokens (GPT-5, LLaMA-2)?",
)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_path(model_dir: str | Path, models_dir: Path) -> Path:
    """Where the export of this model folder lives: named by the folder and a hash of
    its config and weights' sizes, so another model or version gets its own file."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256(str(model_dir.resolve()).encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        path = model_dir / name
        if path.exists():
            digest.update(f"{name}:{path.stat().st_size}".encode())
    return Path(models_dir) / "onnx" / f"{model_dir.name}-{digest.hexdigest()[:12]}.onnx"


class OnnxEncoder:
    """The exported model and its tokenizer; embed() matches SentenceTransformer.encode
    with normalize_embeddings=True."""

    def __init__(self, onnx_file: Path, tokenizer_file: Path, max_length: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one question at a time; the other core serves
        self._session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension"]).shape[1])
        return self._dim

    @classmethod
    def open(cls, model_dir: str | Path, models_dir: Path) -> OnnxEncoder | None:
        """The encoder for this model folder, or None when it has not been exported."""
        onnx_file = export_path(model_dir, models_dir)
        tokenizer = Path(model_dir) / "tokenizer.json"
        if not (onnx_file.exists() and tokenizer.exists()):
            return None
        return cls(onnx_file, tokenizer, _max_length(Path(model_dir)))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        rows = []
        for text in texts:  # one at a time: no padding, so no pooling over pad tokens
            encoding = self._tokenizer.encode(text)
            feed = {
                name: np.asarray([values], dtype=np.int64)
                for name, values in zip(
                    _INPUTS, (encoding.ids, encoding.attention_mask, encoding.type_ids)
                )
            }
            with self._lock:
                rows.append(self._session.run(None, feed)[0][0])
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def _max_length(model_dir: Path) -> int:
    """The sentence-transformers sequence limit (sentence_bert_config.json), else 256."""
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text("utf-8"))
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 256


def _export(module, ids, path: Path, axes: dict) -> None:
    import torch

    torch.onnx.export(
        module, (ids, ids, torch.zeros_like(ids)), str(path),
        input_names=list(_INPUTS), output_names=["embedding"],
        dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False,
    )  # fmt: skip


def export(model, model_dir: str | Path, models_dir: Path) -> Path | None:
    """Export a loaded SentenceTransformer (a BERT-style encoder with mean pooling)
    to ONNX and keep it only if it reproduces the model's vectors; None if it cannot
    (another architecture or pooling, no `onnx` package): queries then stay on torch."""
    import numpy as np
    import torch

    target = export_path(model_dir, models_dir)
    if target.exists():
        return target
    transformer = model[0].auto_model
    pooling = model[1] if len(model) > 1 else None
    mean_pooling = getattr(pooling, "pooling_mode", None) == "mean" or getattr(
        pooling, "pooling_mode_mean_tokens", False
    )  # sentence-transformers 6 names the mode; older releases had one flag per mode
    if not mean_pooling:
        return None

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    ids = torch.ones(1, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    try:
        with warnings.catch_warnings():  # the tracer's notes on control flow it fixed
            warnings.simplefilter("ignore")
            _export(Pooled().eval(), ids, partial, axes)
        encoder = OnnxEncoder(partial, Path(model_dir) / "tokenizer.json", model.max_seq_length)
        want = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
        got = encoder.embed(PROBES)
        if float(np.min(np.sum(want * got, axis=1))) < MIN_COSINE:
            partial.unlink(missing_ok=True)
            return None
        os.replace(partial, target)
        return target
    except Exception:  # noqa: BLE001 - any failure leaves queries on torch, as before
        partial.unlink(missing_ok=True)
        return None
