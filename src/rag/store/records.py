"""What a library stores, and how it rides in Chroma's flat metadata.

A paper's fields are copied onto every one of its chunks (so a paper can be rebuilt
from the store alone and every filter is a `where` clause), lists joined with "; ";
sentence vectors are float16 in base64; a file manifest row is one FileEntry.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..types import Chunk, Paper

if TYPE_CHECKING:
    import numpy as np

LIST_SEP = "; "
ID_SEP = " "  # paper ids in a manifest row
MAX_LISTED = 1000  # skipped titles / problems remembered per file
OPTIONAL = ("category", "date", "url", "doi", "arxiv_id", "venue", "year")
KEY_KINDS = ("doi", "arxiv")  # identity keys stored as metadata key_doi, key_arxiv


@dataclass(frozen=True)
class Prepared:
    """A paper ready to store: its chunks and abstract sentences, in vector order."""

    paper: Paper
    content_hash: str  # everything stored: decides whether the paper is rewritten
    text_hash: str  # only what is embedded: decides whether it is re-embedded
    chunks: Sequence[Chunk]
    sentences: Sequence[str]  # title first, then the abstract's sentences
    keys: tuple[tuple[str, str], ...] = ()  # normalised ("doi" | "arxiv", value) identities


@dataclass(frozen=True)
class StoredPaper:
    """A paper as stored, with what ingest compares against."""

    paper: Paper
    content_hash: str
    text_hash: str
    n_chunks: int
    keys: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    paper_id: str
    text: str
    similarity: float  # cosine similarity for queries; 0 for plain reads


@dataclass
class Changes:
    """What one Store object wrote while recording (Store.record_changes): the papers
    it added, rewrote or removed, and the generation token it set last. The engine
    updates the saved library index from it instead of rebuilding the index."""

    papers: set[str] = field(default_factory=set)
    token: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """What the store knows of one ingested source file.

    Written only after every paper of the file is stored, so an entry whose sha256
    matches the file means: nothing to read. `paper_ids` are the papers the file
    holds; `stale_ids` papers that still list the file as a source although it no
    longer holds them (kept until `rag ingest --prune`).
    """

    path: str  # resolved path: the row id
    sha256: str  # "" = invalidated (a paper of the file was removed): read it again
    size: int
    mtime: float
    format: str
    settings: str  # the ingest settings fingerprint the papers were stored with
    paper_ids: tuple[str, ...]
    stale_ids: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # entries without abstract (for the per-file report)
    problems: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return Path(self.path).name


def paper_metadata(paper: Paper, content_hash: str) -> dict[str, Any]:
    """Flat metadata (str/int/float, as Chroma requires) for every chunk of a paper.

    Absent optional fields are None, which an upsert turns into "remove the key".
    """
    meta: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": LIST_SEP.join(paper.authors),
        "affiliations": LIST_SEP.join(paper.affiliations),
        "sources": LIST_SEP.join(paper.sources),
        "content_hash": content_hash,
    }
    for key in OPTIONAL:
        meta[key] = getattr(paper, key) or None
    return meta


def paper_from_metadata(meta: dict[str, Any]) -> Paper:
    def split(key: str) -> tuple[str, ...]:
        value = meta.get(key) or ""
        return tuple(v for v in value.split(LIST_SEP) if v)

    def opt(key: str) -> Any:
        return meta.get(key) or None

    year = meta.get("year")
    return Paper(
        paper_id=meta["paper_id"],
        title=meta["title"],
        abstract=meta.get("abstract", ""),
        authors=split("authors"),
        affiliations=split("affiliations"),
        category=opt("category"),
        date=opt("date"),
        year=year if isinstance(year, int) else None,
        sources=split("sources"),
        url=opt("url"),
        doi=opt("doi"),
        arxiv_id=opt("arxiv_id"),
        venue=opt("venue"),
    )


def encode_vectors(vectors: np.ndarray) -> str:
    """Unit vectors -> base64 of float16 (cosine error ~1e-3, half the bytes of float32)."""
    import numpy as np

    return base64.b64encode(np.asarray(vectors, dtype="<f2").tobytes()).decode("ascii")


def decode_vectors(text: str, dim: int) -> np.ndarray:
    """The inverse of encode_vectors, re-normalised to unit length, float32."""
    import numpy as np

    flat = np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)
    vectors = flat.reshape(-1, dim)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def stored_from_metadata(meta: dict[str, Any]) -> StoredPaper:
    return StoredPaper(
        paper=paper_from_metadata(meta),
        content_hash=meta.get("content_hash", ""),
        text_hash=meta.get("text_hash", ""),
        n_chunks=int(meta.get("n_chunks") or 1),
        keys=tuple((kind, meta["key_" + kind]) for kind in KEY_KINDS if meta.get("key_" + kind)),
    )


def entry_from_metadata(path: str, meta: dict[str, Any]) -> FileEntry:
    def ids(key: str) -> tuple[str, ...]:
        return tuple(x for x in (meta.get(key) or "").split(ID_SEP) if x)

    return FileEntry(
        path=path,
        sha256=meta.get("sha256") or "",
        size=int(meta.get("size") or 0),
        mtime=float(meta.get("mtime") or 0.0),
        format=meta.get("format") or "",
        settings=meta.get("settings") or "",
        paper_ids=ids("paper_ids"),
        stale_ids=ids("stale_ids"),
        skipped=tuple(json.loads(meta.get("skipped") or "[]")),
        problems=tuple(json.loads(meta.get("problems") or "[]")),
    )


def entry_metadata(entry: FileEntry) -> dict[str, Any]:
    """A manifest row's metadata (the inverse of entry_from_metadata)."""
    return {
        "sha256": entry.sha256,
        "size": entry.size,
        "mtime": entry.mtime,
        "format": entry.format,
        "settings": entry.settings,
        "paper_ids": ID_SEP.join(entry.paper_ids),
        "stale_ids": ID_SEP.join(entry.stale_ids),
        "skipped": json.dumps(list(entry.skipped[:MAX_LISTED]), ensure_ascii=False),
        "problems": json.dumps(list(entry.problems[:MAX_LISTED]), ensure_ascii=False),
    }


def replace_entry(entry: FileEntry, **changes: Any) -> FileEntry:
    return dataclasses.replace(entry, **changes)


def dumps_paper(paper: Paper) -> str:
    return json.dumps(paper.to_dict(), sort_keys=True, ensure_ascii=False)
