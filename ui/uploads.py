"""Uploaded files: checked against the limits, then copied into the app's own
directory before anything reads them.

Each upload gets a fresh directory named by a UUID under `<store parent>/uploads`,
and each file keeps only a sanitised basename, so a crafted file name cannot
point outside that directory. Files are only taken from Gradio's upload folder:
a path sent through the API can never make the app read an arbitrary server file.
A file that breaks a limit (too many, too big, wrong extension, empty, binary) is
reported with a one-line reason and never copied; the others proceed.

    >>> sanitise_name("../../etc/passwd"), sanitise_name("C:\\\\x\\\\my list (1).txt")
    ('passwd', 'my_list_1_.txt')
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.config import Config
from rag.errors import SourceError
from rag.sources.text import read_head

# What the library can ingest: listing pages, BibTeX, JSON / JSON lines, CSV / TSV.
ALLOWED_EXTENSIONS = (".txt", ".bib", ".bibtex", ".jsonl", ".ndjson", ".json", ".csv", ".tsv")
QUESTION_EXTENSIONS = (".jsonl", ".json")
MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_files: int
    extensions: tuple[str, ...] = ALLOWED_EXTENSIONS

    @classmethod
    def from_config(
        cls, config: Config, extensions: tuple[str, ...] = ALLOWED_EXTENSIONS
    ) -> Limits:
        return cls(int(config.max_upload_mb * 1024 * 1024), config.max_upload_files, extensions)

    def describe_size(self) -> str:
        mb = self.max_bytes / (1024 * 1024)
        return f"{mb:g} MB" if mb >= 1 else f"{self.max_bytes:,} bytes"


@dataclass(frozen=True)
class Staged:
    """One uploaded file: where its copy is, or why it was rejected."""

    name: str  # the sanitised basename, as shown to the user
    path: Path | None = None  # the copy, None when rejected
    error: str | None = None


def uploads_root(config: Config) -> Path:
    """The app's own directory for uploads, next to the store."""
    return (Path(config.store).expanduser().resolve().parent / "uploads").resolve()


def sanitise_name(name: str) -> str:
    """A safe basename: no directories, only letters, digits, '.', '-' and '_'.

    >>> sanitise_name(".hidden.bib"), sanitise_name(""), sanitise_name("é ü.csv")
    ('hidden.bib', 'upload', 'e_u.csv')
    """
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")
    if len(base) > MAX_NAME_CHARS:
        stem, dot, ext = base.rpartition(".")
        ext = ext[:10] if dot else ""
        base = (stem if dot else base)[: MAX_NAME_CHARS - len(ext) - 1] + (dot + ext if dot else "")
    return base or "upload"


def problem(path: Path, name: str, limits: Limits) -> str | None:
    """Why an uploaded file cannot be used, or None."""
    suffix = Path(name).suffix.lower()
    if suffix not in limits.extensions:
        allowed = ", ".join(limits.extensions)
        return f"unsupported file type {suffix or '(none)'}: upload one of {allowed}"
    size = path.stat().st_size
    if size > limits.max_bytes:
        return (
            f"file is {size / (1024 * 1024):.1f} MB; the limit is {limits.describe_size()} "
            "per file (RAG_MAX_UPLOAD_MB): split it"
        )
    try:
        read_head(path)  # empty and binary files raise
    except SourceError as exc:
        return exc.problem
    return None


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(root.resolve()) for root in roots)


def _unique(name: str, taken: set[str]) -> str:
    """The name, or name-2, name-3... if another file of this upload has it."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{stem}-{n}{suffix}", n + 1
    taken.add(candidate)
    return candidate


def stage(
    files: Sequence[str | Path] | None,
    root: Path,
    limits: Limits,
    allowed_roots: Sequence[Path],
) -> list[Staged]:
    """Check each uploaded file and copy the good ones into a new directory under root."""
    staged: list[Staged] = []
    target: Path | None = None
    taken: set[str] = set()
    for index, raw in enumerate(files or []):
        source = Path(raw)
        name = _unique(sanitise_name(source.name), taken)
        if index >= limits.max_files:
            staged.append(
                Staged(
                    name,
                    error=f"over the limit of {limits.max_files} files per upload (RAG_MAX_UPLOAD_FILES): upload it separately",
                )
            )
            continue
        if not _inside(source, allowed_roots) or not source.is_file():
            staged.append(Staged(name, error="not an uploaded file"))
            continue
        reason = problem(source, name, limits)
        if reason:
            staged.append(Staged(name, error=reason))
            continue
        if target is None:
            target = root / uuid.uuid4().hex
            target.mkdir(parents=True, exist_ok=False)
        copy = target / name
        shutil.copyfile(source, copy)
        staged.append(Staged(name, path=copy))
    return staged


def discard(staged: Staged) -> None:
    """Delete the copy of a file that ingest rejected (and its directory once empty)."""
    if staged.path is None:
        return
    staged.path.unlink(missing_ok=True)
    try:
        staged.path.parent.rmdir()
    except OSError:
        pass  # other files of the upload are still there
