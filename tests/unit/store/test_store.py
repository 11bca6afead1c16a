"""The Chroma store on its own: a real embedded Chroma in tmp_path, hand-made unit
vectors (8-d), so each test shows exactly what goes in and what comes back."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rag.errors import StoreMismatchError
from rag.store import FileEntry, Prepared, Store
from rag.types import Chunk, Paper

DIM = 8
MODEL = "hand-made-vectors"


def unit(*values: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return v / np.linalg.norm(v)


def prepared(
    paper: Paper, n_chunks: int = 1, text_hash: str = "t1", content_hash: str = "c1"
) -> Prepared:
    chunks = [
        Chunk(f"{paper.paper_id}#{i}", paper.paper_id, i, f"{paper.title}\npart {i}")
        for i in range(n_chunks)
    ]
    keys = (("doi", paper.doi.lower()),) if paper.doi else ()
    return Prepared(paper, content_hash, text_hash, chunks, [paper.title, "One.", "Two."], keys)


def vectors(n: int, start: int = 0) -> np.ndarray:
    return np.stack([unit(*([0.0] * ((start + i) % DIM)), 1.0, 0.1) for i in range(n)])


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store", MODEL, DIM)


@pytest.fixture
def paper() -> Paper:
    return Paper.create(
        "Sparse rate reduction",
        "One. Two.",
        authors=("Ann Lee", "Bo Li"),
        year=2023,
        doi="10.1/ABC",
        sources=("a.bib",),
    )


def test_a_stored_paper_comes_back_whole_with_its_vectors(store, paper):
    item = prepared(paper, n_chunks=2)
    store.add([item], vectors(2), vectors(3, start=2))

    ((back, content_hash),) = store.papers().values()
    assert back == paper and content_hash == "c1"
    hits = store.query(vectors(1)[0], k=5)
    assert [h.chunk_id for h in hits][0] == f"{paper.paper_id}#0"
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    texts, sentence_vectors = store.sentences([paper.paper_id])[paper.paper_id]
    assert texts == [paper.title, "One.", "Two."]
    # float16 storage: each vector within 1e-3 of what was written, and unit length.
    assert np.abs(sentence_vectors - vectors(3, start=2)).max() < 2e-3
    assert np.linalg.norm(sentence_vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)


def test_rewriting_a_paper_replaces_it_in_place(store, paper):
    store.add([prepared(paper, n_chunks=3)], vectors(3), vectors(3))
    assert store.count_chunks() == 3

    shorter = dataclasses.replace(paper, doi=None, year=None)
    store.add([prepared(shorter, n_chunks=1, content_hash="c2")], vectors(1, start=5), vectors(3))

    assert store.count_chunks() == 1  # the old version's extra chunks are gone
    ((back, content_hash),) = store.papers().values()
    assert content_hash == "c2"
    assert back.doi is None and back.year is None  # removed fields do not linger
    assert store.lookup(keys=[("doi", "10.1/abc")]) == {}


def test_a_metadata_update_keeps_the_vectors(store, paper):
    store.add([prepared(paper)], vectors(1, start=3), vectors(3))
    moved = dataclasses.replace(paper, sources=("a.bib", "b.csv"))
    store.update_metadata([prepared(moved, content_hash="c2")])

    ((back, content_hash),) = store.papers().values()
    assert back.sources == ("a.bib", "b.csv") and content_hash == "c2"
    hit = store.query(vectors(1, start=3)[0], k=1)[0]
    assert hit.similarity == pytest.approx(1.0, abs=1e-4)


def test_lookup_finds_papers_by_id_and_by_identity_key(store, paper):
    other = Paper.create("Another title", "Text.", sources=("b.bib",))
    store.add([prepared(paper), prepared(other)], vectors(2), vectors(6))

    assert set(store.lookup([other.paper_id])) == {other.paper_id}
    by_doi = store.lookup(keys=[("doi", "10.1/abc")])
    assert list(by_doi) == [paper.paper_id]
    assert by_doi[paper.paper_id].keys == (("doi", "10.1/abc"),)
    assert by_doi[paper.paper_id].text_hash == "t1" and by_doi[paper.paper_id].n_chunks == 1
    assert store.lookup(["p_missing"], [("arxiv", "1234.5678")]) == {}
    assert store.present([paper.paper_id, "p_missing"]) == {paper.paper_id}


def test_removing_a_paper_marks_its_files_to_be_read_again(store, paper):
    other = Paper.create("Another title", "Text.", sources=("b.bib",))
    store.add([prepared(paper), prepared(other)], vectors(2), vectors(6))
    holds_paper = FileEntry("/x/a.bib", "aa", 10, 1.0, "BibTeX", "s", (paper.paper_id,))
    holds_other = FileEntry(
        "/x/b.bib", "bb", 10, 1.0, "BibTeX", "s", (other.paper_id,), skipped=("No abstract",)
    )
    store.put_file(holds_paper)
    store.put_file(holds_other)

    store.delete_papers([paper.paper_id])

    assert set(store.papers()) == {other.paper_id}
    assert store.sentences([paper.paper_id]) == {}
    files = store.files()
    assert files["/x/a.bib"].sha256 == ""  # invalidated: re-read next time
    assert files["/x/b.bib"] == holds_other
    store.delete_files(["/x/a.bib"])
    assert list(store.files()) == ["/x/b.bib"]


def test_a_store_built_with_another_model_fails_on_use_but_can_be_rebuilt(tmp_path, paper):
    Store(tmp_path / "s", MODEL, DIM).add([prepared(paper)], vectors(1), vectors(3))

    other = Store(tmp_path / "s", "another-model", DIM)
    with pytest.raises(StoreMismatchError, match="another-model.*rag ingest --rebuild"):
        other.papers()
    other.reset()
    assert other.papers() == {} and other.files() == {}


def test_chunks_are_searched_by_cosine_with_the_wide_search(store, paper):
    from rag.store import EF_SEARCH

    store.add([prepared(paper)], vectors(1), vectors(3))
    hnsw = store.chunk_index()
    assert hnsw["space"] == "cosine" and hnsw["ef_search"] == EF_SEARCH
    (hit,) = store.query(vectors(1)[0] * 3.0, 1, None)  # cosine: the length does not count
    assert hit.similarity == pytest.approx(1.0, abs=1e-4)


def test_llama_indexs_chroma_vector_store_reads_the_chunks_the_store_finds(store, paper):
    """The store searches Chroma directly; the rows stay in LlamaIndex's node layout, so a
    LlamaIndex pipeline over `vector_store()` gets the same chunks, text and metadata."""
    from llama_index.core.vector_stores.types import (
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
    )

    other = Paper.create("Dense retrieval", "Three. Four.", year=2020)
    store.add([prepared(paper, n_chunks=2), prepared(other, n_chunks=2)], vectors(4), vectors(6))
    query = unit(1.0, 0.5, 0.2)
    ours = store.query(query, 3)
    theirs = store.vector_store().query(
        VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=3)
    )
    assert [c.chunk_id for c in ours] == [n.node_id for n in theirs.nodes]
    assert [c.text for c in ours] == [n.get_content() for n in theirs.nodes]
    assert [c.paper_id for c in ours] == [n.metadata["paper_id"] for n in theirs.nodes]
    for chunk, similarity in zip(ours, theirs.similarities, strict=True):
        assert similarity == pytest.approx(np.exp(chunk.similarity - 1.0), abs=1e-5)  # exp(-d)
    only = MetadataFilters(filters=[MetadataFilter(key="year", value=2020)])
    found = store.vector_store().query(
        VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=4, filters=only)
    )
    assert {n.metadata["paper_id"] for n in found.nodes} == {other.paper_id}
    assert [c.chunk_id for c in store.query(query, 4, {"year": 2020})] == [
        n.node_id for n in found.nodes
    ]


def test_a_store_made_with_chromas_narrow_search_is_widened_on_open(tmp_path, paper):
    import chromadb
    from chromadb.config import Settings

    from rag.store import EF_SEARCH, SCHEMA_VERSION

    path = tmp_path / "old"
    client = chromadb.PersistentClient(str(path), settings=Settings(anonymized_telemetry=False))
    meta = {"rag_schema": SCHEMA_VERSION, "rag_embed_model": MODEL, "rag_dim": DIM}
    client.create_collection("papers", metadata={**meta, "hnsw:space": "cosine"})  # as before
    del client
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    old = Store(path, MODEL, DIM)
    old.add([prepared(paper)], vectors(1), vectors(3))
    assert old.chunk_index()["ef_search"] == EF_SEARCH
    assert old.chunk_index()["space"] == "cosine"
    assert [h.paper_id for h in old.query(vectors(1)[0], 1, None)] == [paper.paper_id]
