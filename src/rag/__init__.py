"""Ask a library of paper abstracts; answers cite the sentences they came from.

The public surface; heavy modules load on first use, so importing `rag` is cheap.

    >>> from rag import Config
    >>> Config.from_env({}).top_k
    5
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Answer": "types",
    "Citation": "types",
    "Config": "config",
    "Engine": "engine",
    "Filters": "types",
    "Paper": "types",
    "RagError": "errors",
    "Tuning": "tuning",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
