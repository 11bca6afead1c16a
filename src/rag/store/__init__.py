"""The only package that talks to Chroma: embedded (`PersistentClient`) or a server
(`HttpClient`), chosen by configuration alone.

Three collections per library `<name>`:

    <name>            one row per chunk: its vector, its text and its paper's metadata
                      (in LlamaIndex's node layout: `vector_store()` reads them as nodes)
    <name>_sentences  one row per paper: the title and abstract sentences with their
                      vectors (float16, base64) in metadata, for reranking and extractive
                      answers. They are fetched by paper id, never searched, so they sit
                      behind a 1-d placeholder vector: an HNSW index over ~10 sentence
                      vectors per paper would hold gigabytes in memory at 100k papers.
    <name>_files      the file manifest: one row per ingested source file (see FileEntry)

Every chunk carries its paper's metadata, so each paper can be rebuilt from the store
alone and every metadata filter can be a Chroma `where` clause. A paper's content hash
rides on its chunks, so the per-paper manifest can never disagree with what is stored.

Modules: `records` (what is stored, as Chroma metadata), `connection` (clients, one-line
errors, the embedded store's files), `manifest` (the files collection and the
generation token), `sentences` (the sentence collection) and `store` (`Store`: the
chunk collection, and the one object the rest of the code uses).
"""

from .connection import REBUILD_FIX, remove_store_files, short_error
from .records import (
    Changes,
    FileEntry,
    Prepared,
    StoredChunk,
    StoredPaper,
    decode_vectors,
    dumps_paper,
    encode_vectors,
    paper_from_metadata,
    paper_metadata,
)
from .store import EF_SEARCH, SCHEMA_VERSION, Store

__all__ = [
    "EF_SEARCH",
    "REBUILD_FIX",
    "SCHEMA_VERSION",
    "Changes",
    "FileEntry",
    "Prepared",
    "Store",
    "StoredChunk",
    "StoredPaper",
    "decode_vectors",
    "dumps_paper",
    "encode_vectors",
    "paper_from_metadata",
    "paper_metadata",
    "remove_store_files",
    "short_error",
]
