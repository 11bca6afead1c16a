"""The library's store: the chunk collection, and the one object the rest of the code
uses for all three collections (the manifest and sentence collections are `manifest.py`
and `sentences.py`).

    <name>  one row per chunk: its vector, its text and its paper's metadata (in
            LlamaIndex's node layout: `vector_store()` reads them as nodes)

Every chunk carries its paper's metadata (records.py), so each paper can be rebuilt from
the store alone and every metadata filter can be a Chroma `where` clause. A paper's
content hash rides on its chunks, so the per-paper manifest can never disagree with
what is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, StoreMismatchError
from ..types import Chunk, Paper
from .connection import PAGE, REBUILD_FIX, Calls, connect, short_error
from .manifest import Manifest
from .records import (
    KEY_KINDS,
    Changes,
    FileEntry,
    Prepared,
    StoredChunk,
    StoredPaper,
    paper_from_metadata,
    paper_metadata,
    replace_entry,
    stored_from_metadata,
)
from .sentences import Sentences

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: sentences as one row per paper; file manifest; text hash, identity keys
_INDEX_PROBES = 8  # stored chunks looked up by their own vectors when a store opens
# HNSW's search breadth (Chroma's default 100). Measured on the bundled library's 496
# chunks for the 40 nearest (RetrievalTuning.candidates), against exact search, over the 123
# eval and held-out questions, in fresh processes: 100 found all 40 for 93% of the
# questions, and which one it missed changed from one process to the next (Chroma
# rebuilds a small index from its log on open, differently each time), so a question
# could get other papers after a restart; 200 for 98-100%; 400 for all of them in 7
# runs, and for all but one in one CI run. Query time: 4 ms at any of these; 6.3 ms
# (400) against 6.7 ms (100) for 50,000 chunks of clustered random vectors.
EF_SEARCH = 400
_SELF_DISTANCE = 1e-3  # cosine distance of a stored vector to itself, float error included


class Store:
    """A library in Chroma: chunks, sentences and the file manifest."""

    def __init__(
        self,
        path: Path,
        embed_model: str,
        dim: int | Callable[[], int],
        collection: str = "papers",
        url: str | None = None,
    ) -> None:
        self.location = url or str(path)
        self.embed_model = embed_model
        self._remote = url is not None
        self._client = connect(path, url)
        self._call = Calls(self.location, self._remote)
        # A callable dim (it loads the model) is resolved only once the store is reachable.
        self.dim = dim() if callable(dim) else dim
        self._name = collection
        self._broken: StoreError | None = None
        self._changes: Changes | None = None
        self._open()

    # ---------------------------------------------------------------- opening
    def _open(self) -> None:
        """Open the collections; a mismatch is raised on first use, so reset() still works."""
        try:
            self._chunks = self._open_collection(self._name, vectors=True)
            self._sentences = self._open_collection(self._name + "_sentences", vectors=False)
            self._files = self._open_collection(self._name + "_files", vectors=False)
            self.manifest = Manifest(self._files, self._call)
            self._sentence_rows = Sentences(self._sentences, self._call, self.dim, self._upsert)
            self._broken = None
        except StoreMismatchError as exc:
            self._broken = exc

    def _open_collection(self, name: str, vectors: bool):
        expected: dict[str, Any] = {
            "rag_schema": SCHEMA_VERSION,
            "rag_embed_model": self.embed_model,
            "rag_dim": self.dim,
        }
        # The index settings go in `configuration` only: Chroma lets it override an
        # "hnsw:space" in the metadata without a word (to its default, l2).
        config = {"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}} if vectors else None
        try:
            collection = self._client.get_or_create_collection(
                name, metadata=expected, configuration=config, embedding_function=None
            )
            meta = collection.metadata or {}
            if vectors:
                _search_wide(collection)
        except Exception as exc:  # a damaged database file, a server error
            raise StoreError(
                f"cannot open the store at {self.location} ({short_error(exc)}): {REBUILD_FIX}"
            ) from None
        if meta.get("rag_schema") != SCHEMA_VERSION:
            raise StoreMismatchError(
                f"the store at {self.location} was written by another version "
                f"(schema {meta.get('rag_schema')!r}, expected {SCHEMA_VERSION}): {REBUILD_FIX}"
            )
        if meta.get("rag_embed_model") != self.embed_model or meta.get("rag_dim") != self.dim:
            raise StoreMismatchError(
                f"the store at {self.location} was built with embedding model "
                f"{meta.get('rag_embed_model')!r} (dim {meta.get('rag_dim')}), not "
                f"{self.embed_model!r} (dim {self.dim}): {REBUILD_FIX}"
            )
        return collection

    def _ready(self) -> None:
        if self._broken is not None:
            raise self._broken

    def reset(self) -> None:
        """Drop everything (for `rag ingest --rebuild`); StoreError if something stays."""
        for suffix in ("", "_sentences", "_files"):
            try:
                self._client.delete_collection(self._name + suffix)
            except Exception:  # absent already, or too damaged to delete: checked below
                pass
        self._open()
        self._ready()
        if self._call(self._chunks.count) or self._call(self._files.count):
            raise StoreError(f"cannot empty the store at {self.location}: {REBUILD_FIX}")

    def check_index(self) -> None:
        """StoreError if the vector index cannot find stored chunks by their own vectors.

        A truncated or overwritten HNSW file is not always an error in Chroma: queries
        can silently return wrong neighbours. Which rows a damaged file still serves
        depends on where Chroma put them (rows written after its last index flush are
        replayed from its log on open), so a lookup of the newest row alone once passed
        on a truncated index in the corruption test. _INDEX_PROBES rows spread over the
        collection, oldest to newest, are looked up in one batched query.

        A miss is checked once more on a fresh load before the store is called damaged.
        An embedded Chroma (1.5.9) builds the graph of an index it has not flushed yet
        from its log when a process opens the store, differently each time, and after
        deletes a few live rows can be left out of that graph, found by `get` but not by
        any query (chroma-core/chroma#7758). It showed in the crash test's update runs
        (once in a CI run, once in 120 kill points here), and the same files opened
        again served every row. Damaged files miss again, whatever the load.
        """
        self._ready()
        if self._probes_found():
            return
        if not self._remote:
            log.warning("reopening the store at %s: its vector index missed a row", self.location)
            self.reopen()
            if self._probes_found():
                return
        raise StoreError(
            f"the vector index of the store at {self.location} is damaged: {REBUILD_FIX}"
        )

    def _probes_found(self) -> bool:
        n = self.count_chunks()
        if not n:
            return True
        offsets = sorted(
            {round(i * (n - 1) / max(_INDEX_PROBES - 1, 1)) for i in range(_INDEX_PROBES)}
        )
        vectors = [
            self._call(self._chunks.get, limit=1, offset=o, include=["embeddings"])["embeddings"][0]
            for o in offsets
        ]
        found = self._call(
            self._chunks.query, query_embeddings=vectors, n_results=1, include=["distances"]
        )
        nearest = [d[0] if d else None for d in found.get("distances") or []]
        return len(nearest) == len(vectors) and all(
            d is not None and d <= _SELF_DISTANCE for d in nearest
        )

    def reopen(self) -> None:
        """Open the embedded store's files afresh, in a new Chroma system: Chroma keeps
        one per path in a process, and only a new one reads the files again."""
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(self.location, None)
        SharedSystemClient._identifier_to_refcount.pop(self.location, None)
        self._client = connect(Path(self.location), None)
        self._open()
        self._ready()

    # ------------------------------------------------------------- generation
    def generation(self) -> str | None:
        """The token of the store's current content (None before the first write):
        every write replaces it before it changes any data, so an index saved for one
        token is out of date once the token differs (library_index.py)."""
        self._ready()
        return self.manifest.generation()

    def new_generation(self) -> str:
        """Store a new generation token and return it."""
        token = self.manifest.new_generation()
        if self._changes is not None:
            self._changes.token = token
        return token

    def record_changes(self) -> Changes:
        """Record, from now until stop_recording(), which papers this object writes."""
        self._changes = Changes()
        return self._changes

    def stop_recording(self) -> None:
        self._changes = None

    def _record(self, paper_ids: Iterable[str]) -> None:
        """Called before a write changes any data, so a failed write is recorded too."""
        if self._changes is not None:
            self._changes.papers.update(paper_ids)

    # ---------------------------------------------------------------- writing
    def add(
        self,
        items: Sequence[Prepared],
        chunk_vectors: np.ndarray,
        sentence_vectors: np.ndarray,
    ) -> None:
        """Store prepared papers, replacing any older version of them in place.

        Order matters for an interrupted write: chunks the new version no longer has
        are deleted first, then the sentences, then every chunk in one upsert that
        carries the new content hash. A paper is never absent, and until the last
        write lands it still shows its old hash, so the next ingest writes it again.
        """
        self._ready()
        if not items:
            return
        self.new_generation()
        ids = [item.paper.paper_id for item in items]
        self._record(ids)
        new_chunk_ids = {c.chunk_id for item in items for c in item.chunks}
        leftover = [cid for cid in self._chunk_ids(ids) if cid not in new_chunk_ids]
        if leftover:
            self._call(self._chunks.delete, ids=leftover)
        self._sentence_rows.write(items, sentence_vectors)
        chunk_ids, documents, metas = [], [], []
        for item in items:
            for chunk in item.chunks:
                chunk_ids.append(chunk.chunk_id)
                documents.append(chunk.text)
                metas.append(self._chunk_metadata(item, chunk))
        self._upsert(self._chunks, chunk_ids, chunk_vectors, metas, documents)

    def update_metadata(self, items: Sequence[Prepared]) -> None:
        """Rewrite the metadata of papers whose embedded text is unchanged (no vectors)."""
        self._ready()
        if items:
            self.new_generation()
        self._record(item.paper.paper_id for item in items)
        chunk_ids, metas = [], []
        for item in items:
            for chunk in item.chunks:
                chunk_ids.append(chunk.chunk_id)
                metas.append(self._chunk_metadata(item, chunk))
        for start in range(0, len(chunk_ids), PAGE):
            self._call(
                self._chunks.update,
                ids=chunk_ids[start : start + PAGE],
                metadatas=metas[start : start + PAGE],
            )

    def _chunk_metadata(self, item: Prepared, chunk: Chunk) -> dict[str, Any]:
        from llama_index.core.schema import TextNode
        from llama_index.core.vector_stores.utils import node_to_metadata_dict

        # LlamaIndex's node layout, so ChromaVectorStore reads the rows back as nodes;
        # the node JSON holds only the paper id (the flat keys hold the rest once).
        node = TextNode(id_=chunk.chunk_id, text="", metadata={"paper_id": chunk.paper_id})
        meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=True)
        for unused in ("document_id", "doc_id", "ref_doc_id"):  # "None" placeholders
            meta.pop(unused, None)
        meta.update(paper_metadata(item.paper, item.content_hash))
        meta.update(chunk_index=chunk.index, n_chunks=len(item.chunks), text_hash=item.text_hash)
        found = dict(item.keys)
        for kind in KEY_KINDS:
            meta["key_" + kind] = found.get(kind)
        return meta

    def _upsert(self, collection, ids, embeddings, metadatas, documents) -> None:
        limit = self._max_batch()
        for start in range(0, len(ids), limit):
            end = start + limit
            self._call(
                collection.upsert,
                ids=ids[start:end],
                embeddings=embeddings[start:end],
                metadatas=metadatas[start:end],
                documents=documents[start:end] if documents is not None else None,
            )

    def _max_batch(self) -> int:
        try:
            return int(self._client.get_max_batch_size())
        except Exception:
            return PAGE

    def delete_papers(self, paper_ids: Sequence[str]) -> None:
        """Remove papers, and mark the files that hold them to be read again.

        The manifest may only say "nothing to read" for a file whose papers are all
        stored, so a later ingest of such a file re-reads it and adds them back.
        """
        self._ready()
        paper_ids = list(paper_ids)
        if not paper_ids:
            return
        self.new_generation()
        self._record(paper_ids)
        for start in range(0, len(paper_ids), PAGE):
            batch = paper_ids[start : start + PAGE]
            self._call(self._chunks.delete, where={"paper_id": {"$in": batch}})
            self._sentence_rows.delete(batch)
        gone = set(paper_ids)
        for entry in self.files().values():
            if entry.sha256 and gone.intersection(entry.paper_ids):
                self.put_file(replace_entry(entry, sha256=""))

    # ---------------------------------------------------------------- manifest
    def files(self) -> dict[str, FileEntry]:
        """Every file manifest entry, keyed by resolved path."""
        self._ready()
        return self.manifest.files()

    def put_file(self, entry: FileEntry) -> None:
        self._ready()
        self.manifest.put(entry)

    def delete_files(self, paths: Sequence[str]) -> None:
        self._ready()
        self.manifest.delete(paths)

    # ---------------------------------------------------------------- reading
    def count_chunks(self) -> int:
        self._ready()
        return self._call(self._chunks.count)

    def chunk_vectors(self) -> tuple[list[str], Any]:
        """Every chunk's id and vector (a float32 matrix, one row per id), for exact
        search to check the approximate index against."""
        import numpy as np

        self._ready()
        rows = self._call(self._chunks.get, include=["embeddings"])
        return rows["ids"], np.asarray(rows["embeddings"], dtype=np.float32)

    def chunk_index(self) -> dict[str, Any]:
        """The chunk collection's HNSW index settings (space, ef_search, ...)."""
        self._ready()
        return dict(self._chunks.configuration["hnsw"])

    def papers(self) -> dict[str, tuple[Paper, str]]:
        """Every stored paper with its content hash, keyed by paper_id."""
        found: dict[str, tuple[Paper, str]] = {}
        for row in self._iter_rows(include=["metadatas"], where={"chunk_index": 0}):
            meta = row["metadata"]
            found[meta["paper_id"]] = (paper_from_metadata(meta), meta.get("content_hash", ""))
        return found

    def lookup(
        self, paper_ids: Iterable[str] = (), keys: Iterable[tuple[str, str]] = ()
    ) -> dict[str, StoredPaper]:
        """Stored papers with any of these ids or ("doi" | "arxiv", value) keys, by id."""
        self._ready()
        clauses: list[dict[str, Any]] = []
        ids = sorted(set(paper_ids))
        for start in range(0, len(ids), PAGE):
            clauses.append({"paper_id": {"$in": ids[start : start + PAGE]}})
        wanted: dict[str, set[str]] = {}
        for kind, value in keys:
            if kind in KEY_KINDS:
                wanted.setdefault(kind, set()).add(value)
        for kind, values in wanted.items():
            listed = sorted(values)
            for start in range(0, len(listed), PAGE):
                clauses.append({"key_" + kind: {"$in": listed[start : start + PAGE]}})
        found: dict[str, StoredPaper] = {}
        for clause in clauses:
            page = self._call(
                self._chunks.get,
                where={"$and": [{"chunk_index": 0}, clause]},
                include=["metadatas"],
            )
            for meta in page["metadatas"]:
                stored = stored_from_metadata(meta)
                found[stored.paper.paper_id] = stored
        return found

    def present(self, paper_ids: Sequence[str]) -> set[str]:
        """Which of these papers are stored (their first chunk is)."""
        self._ready()
        out: set[str] = set()
        ids = sorted(set(paper_ids))
        for start in range(0, len(ids), PAGE):
            where = {"$and": [{"chunk_index": 0}, {"paper_id": {"$in": ids[start : start + PAGE]}}]}
            page = self._call(self._chunks.get, where=where, include=["metadatas"])
            out.update(meta["paper_id"] for meta in page["metadatas"])
        return out

    def chunks(self) -> Iterator[StoredChunk]:
        """Every chunk's id, paper and text (to build the keyword index)."""
        return self._stored_chunks()

    def chunks_of(self, paper_ids: Iterable[str]) -> Iterator[StoredChunk]:
        """The chunks of these papers (to update the keyword index)."""
        ids = sorted(set(paper_ids))
        for start in range(0, len(ids), PAGE):
            yield from self._stored_chunks({"paper_id": {"$in": ids[start : start + PAGE]}})

    def _stored_chunks(self, where: dict | None = None) -> Iterator[StoredChunk]:
        for row in self._iter_rows(include=["metadatas", "documents"], where=where):
            yield StoredChunk(row["id"], row["metadata"]["paper_id"], row["document"] or "", 0.0)

    def _chunk_ids(self, paper_ids: Sequence[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(paper_ids), PAGE):
            page = self._call(
                self._chunks.get,
                where={"paper_id": {"$in": list(paper_ids[start : start + PAGE])}},
                include=[],
            )
            out.extend(page["ids"])
        return out

    def _iter_rows(self, include: list[str], where: dict | None = None) -> Iterator[dict]:
        self._ready()
        offset = 0
        while True:
            page = self._call(
                self._chunks.get, include=include, where=where, limit=PAGE, offset=offset
            )
            ids = page["ids"]
            for i, chunk_id in enumerate(ids):
                yield {
                    "id": chunk_id,
                    "metadata": page["metadatas"][i] if page.get("metadatas") else {},
                    "document": page["documents"][i] if page.get("documents") else None,
                }
            if len(ids) < PAGE:
                return
            offset += PAGE

    def vector_store(self):
        """The chunk collection as LlamaIndex's ChromaVectorStore, for a LlamaIndex
        pipeline of the user's own: the rows are in its node layout."""
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self._ready()
        return ChromaVectorStore(chroma_collection=self._chunks)

    def query(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[StoredChunk]:
        """The k nearest chunks (cosine), optionally restricted by a Chroma where clause.

        Chroma is asked directly, as ChromaVectorStore would ask it: importing LlamaIndex
        for this one call cost a one-off question about a second (llama_index.core
        imports all of itself).
        """
        self._ready()
        # No bound by the collection's size: Chroma returns what it has, and counting
        # first cost as much as the search itself at 10^5 chunks.
        kwargs = {"where": where} if where else {}
        result = self._call(
            self._chunks.query,
            query_embeddings=[vector.tolist()],
            n_results=max(1, k),
            include=["documents", "metadatas", "distances"],
            **kwargs,
        )
        rows = zip(
            result["ids"][0], result["documents"][0], result["metadatas"][0],
            result["distances"][0], strict=True,
        )  # fmt: skip
        # The collection's space is cosine: distance = 1 - cos.
        return [
            StoredChunk(chunk_id, meta["paper_id"], text or "", 1.0 - distance)
            for chunk_id, text, meta, distance in rows
        ]

    def sentences(self, paper_ids: Sequence[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """The stored sentences (title first) of papers, with their unit vectors."""
        self._ready()
        return self._sentence_rows.read(paper_ids) if paper_ids else {}


def _search_wide(collection) -> None:
    """Raise the search breadth of a store made with a narrower one (a setting, no rebuild)."""
    hnsw = (collection.configuration or {}).get("hnsw") or {}
    if hnsw.get("ef_search", EF_SEARCH) < EF_SEARCH:
        collection.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})
