"""Scratch space for the files the UI hands to the browser (answer exports, eval reports).

Gradio copies a returned file into its own cache, which it sweeps itself (app.delete_cache);
the originals written here are only needed until then. So each new folder prunes the
folders older than KEEP_S, and the whole root goes when the process exits.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

KEEP_S = 86_400  # as long as Gradio keeps its cached copies

_root: Path | None = None


def new_folder(prefix: str) -> Path:
    """A fresh folder under this process's scratch root; older folders are removed."""
    root = _scratch_root()
    cutoff = time.time() - KEEP_S
    for child in root.iterdir():
        try:
            if child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
        except FileNotFoundError:  # another request pruned it first
            continue
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def _scratch_root() -> Path:
    global _root
    if _root is None or not _root.is_dir():
        _root = Path(tempfile.mkdtemp(prefix="rag-ui-"))
        atexit.register(shutil.rmtree, _root, ignore_errors=True)
    return _root
