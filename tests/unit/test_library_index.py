"""The saved library index (library_index.py): a library opens from it as it would
from the store, a write makes it stale, and a damaged, foreign or half-written index
is rebuilt with a notice, never used. Real Chroma stores (copies of the bundled
library), real processes for the kills."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import Stemmer
from conftest import ROOT

from rag import library_index
from rag.config import Config
from rag.engine import Engine
from rag.keyword import KeywordIndex, TermTable

QUESTIONS = (
    "How does sharpness-aware minimization improve generalization?",
    "Which papers study grokking?",
    "post-training quantization of large language models",
    "papers by Yaodong Yu",
)


def _forget_clients() -> None:
    """Chroma caches one client per path in a process; drop it to read the disk afresh."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def open_engine(store: Path, embedder) -> Engine:
    _forget_clients()
    return Engine(Config.from_env({}, store=store), embedder=embedder)


def directory(store: Path) -> Path:
    return library_index.index_dir(store, Config.from_env({}, store=store).collection)


def results(engine: Engine) -> list[list[tuple[str, float]]]:
    return [
        [(h.paper.paper_id, round(h.score, 6)) for h in engine.retrieve(q).hits] for q in QUESTIONS
    ]


def saved_now(store: Path, embedder) -> library_index.Saved | None:
    engine = open_engine(store, embedder)
    return library_index.load(
        directory(store), engine.store.generation(), engine.store.count_chunks()
    )


def notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == library_index.log.name]


@pytest.fixture
def reference(library_store, embedder):
    """What the bundled library gives when everything is built from the store."""
    engine = open_engine(library_store, embedder)
    engine.reload(from_store=True)
    return {"catalog": engine.snapshot.catalog, "results": results(engine), "engine": engine}


def test_the_saved_index_opens_the_library_as_the_store_would(library_copy, embedder, reference):
    saved = saved_now(library_copy, embedder)  # ingest saved it
    assert saved is not None
    assert saved.catalog == reference["catalog"]
    built = reference["engine"].snapshot.retriever
    assert sorted(saved.keyword.chunk_ids) == sorted(built.keyword.chunk_ids)
    for paper_id in list(saved.catalog)[:25]:
        assert saved.terms.paper_terms(paper_id) == built.terms.paper_terms(paper_id)
        for term in sorted(built.terms.paper_terms(paper_id))[:10]:
            assert saved.terms.df(term) == built.terms.df(term)
            assert saved.terms.idf(term) == built.terms.idf(term)
    assert saved.glossary.pairs() == reference["engine"].snapshot.glossary.pairs()
    engine = open_engine(library_copy, embedder)
    assert results(engine) == reference["results"]  # the same hits and scores


def test_a_write_makes_the_saved_index_stale(library_copy, embedder, reference, caplog):
    caplog.set_level(logging.WARNING)
    writer = open_engine(library_copy, embedder)
    gone = sorted(writer.snapshot.catalog)[:3]
    writer.store.delete_papers(gone)  # a write by another process: nothing re-saved
    assert saved_now(library_copy, embedder) is None
    assert any("the store changed" in n for n in notices(caplog))
    engine = open_engine(library_copy, embedder)  # rebuilt from the store, and saved
    assert set(engine.snapshot.catalog) == set(reference["catalog"]) - set(gone)
    caplog.clear()
    again = saved_now(library_copy, embedder)
    assert again is not None and set(again.catalog) == set(engine.snapshot.catalog)
    assert notices(caplog) == []
    engine.remove([sorted(engine.snapshot.catalog)[0]])  # the engine's own write: saved
    assert saved_now(library_copy, embedder).catalog == engine.snapshot.catalog


def built_whole(store: Path, embedder) -> Engine:
    """An engine whose index was built from the whole store (none saved to load)."""
    shutil.rmtree(directory(store), ignore_errors=True)
    engine = open_engine(store, embedder)
    engine.count()
    assert engine.opened_from == "store"
    return engine


def assert_same_index(engine: Engine, whole: Engine) -> None:
    """The same catalog, keyword scores, term statistics, glossary and answers."""
    assert engine.snapshot.catalog == whole.snapshot.catalog
    ours, theirs = engine.snapshot.retriever, whole.snapshot.retriever
    assert sorted(ours.keyword.chunk_ids) == sorted(theirs.keyword.chunk_ids)
    for query in QUESTIONS + ("robust training of neural networks", "diffusion"):
        mine = dict(zip(ours.keyword.chunk_ids, ours.keyword.scores(query).tolist()))
        other = dict(zip(theirs.keyword.chunk_ids, theirs.keyword.scores(query).tolist()))
        assert mine == pytest.approx(other, rel=1e-5, abs=1e-6), query
    for paper_id in engine.snapshot.catalog:
        terms = theirs.terms.paper_terms(paper_id)
        assert ours.terms.paper_terms(paper_id) == terms
        assert all(ours.terms.df(t) == theirs.terms.df(t) for t in terms)
    assert ours.terms.idf("robust") == theirs.terms.idf("robust")
    assert set(engine.snapshot.glossary.pairs()) == set(whole.snapshot.glossary.pairs())
    assert results(engine) == results(whole)


def test_a_write_updates_the_index_for_the_papers_it_touched(
    library_copy, embedder, reference, tmp_path
):
    engine = open_engine(library_copy, embedder)
    catalog = dict(engine.snapshot.catalog)
    changed = sorted(catalog.values(), key=lambda p: p.title)[5]
    records = [
        {"title": "Grokking beyond modular arithmetic in sparse parity tasks",
         "abstract": "We study grokking (delayed generalization, DG) in sparse parity "
                     "tasks. Weight decay (WD) makes grokking happen sooner.",
         "authors": ["A. Writer"], "year": 2025},
        {"title": changed.title, "abstract": changed.abstract,
         "authors": list(changed.authors)},
    ]  # fmt: skip
    papers_file = tmp_path / "more.jsonl"
    papers_file.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    report = engine.ingest([papers_file])
    assert (report.added, report.updated) == (1, 1)
    assert engine.opened_from == "update"
    assert "more.jsonl" in engine.snapshot.catalog[changed.paper_id].sources  # merged copy
    assert len(engine.snapshot.catalog) == len(catalog) + 1

    gone = sorted(catalog)[:4]
    assert engine.remove(gone) == gone
    assert engine.opened_from == "update"
    assert not set(gone) & set(engine.snapshot.catalog)

    saved = saved_now(library_copy, embedder)  # what the next process loads
    assert saved is not None and saved.catalog == engine.snapshot.catalog
    assert_same_index(engine, built_whole(library_copy, embedder))
    loaded = open_engine(library_copy, embedder)
    loaded.count()
    assert loaded.opened_from == "saved index"


def test_an_index_older_than_the_store_is_not_updated_but_read_whole(library_copy, embedder):
    engine = open_engine(library_copy, embedder)
    engine.count()
    other = open_engine(library_copy, embedder)  # another process removes papers
    other.store.delete_papers(sorted(other.snapshot.catalog)[:3])
    removed = sorted(engine.snapshot.catalog)[3]
    engine.remove([removed])  # the snapshot predates the other write: not a base
    assert engine.opened_from == "store"
    assert len(engine.snapshot.catalog) == len(other.snapshot.catalog) - 4
    assert_same_index(engine, built_whole(library_copy, embedder))


def test_a_write_touching_most_of_the_library_reads_it_whole(library_copy, embedder):
    engine = open_engine(library_copy, embedder)
    papers = sorted(engine.snapshot.catalog)
    engine.remove(papers[: len(papers) // 2 + 1])  # an update would read as much
    assert engine.opened_from == "store"
    assert len(engine.snapshot.catalog) == len(papers) - (len(papers) // 2 + 1)
    assert_same_index(engine, built_whole(library_copy, embedder))


def test_the_keyword_index_scores_as_bm25s_builds_them(engine):
    """The BM25 arrays are computed from token ids with array operations
    (keyword._index); bm25s's own index() over the same chunks is the reference."""
    import bm25s

    chunks = list(engine.store.chunks())
    ours = KeywordIndex(chunks)
    theirs = bm25s.BM25()
    tokens = bm25s.tokenize([c.text for c in chunks], stopwords="en",
                            stemmer=Stemmer.Stemmer("english"), show_progress=False)  # fmt: skip
    theirs.index(tokens, show_progress=False)
    assert ours.vocabulary() == theirs.vocab_dict
    for query in QUESTIONS + ("the of and", "certified robustness interval bound", "zzzz"):
        terms = ours.terms(query)
        want = theirs.get_scores(terms) if terms else np.zeros(len(chunks))
        assert np.array_equal(ours.scores(query), np.asarray(want, dtype=np.float32)), query


def _truncate_catalog(folder: Path) -> None:
    lines = (folder / "catalog.jsonl").read_text("utf-8").splitlines(keepends=True)
    (folder / "catalog.jsonl").write_text("".join(lines[: len(lines) // 2]), "utf-8")


def _garbage_terms(folder: Path) -> None:
    (folder / "terms" / "indptr.npy").write_bytes(b"\x93NUMPY not really")


def _lose_keyword_ids(folder: Path) -> None:
    (folder / "keyword" / "ids.json").unlink()


def _shorten_terms(folder: Path) -> None:
    indptr = np.load(folder / "terms" / "indptr.npy")
    np.save(folder / "terms" / "indptr.npy", indptr[:-5])


def _other_format(folder: Path) -> None:
    manifest = folder.parent / library_index.MANIFEST
    data = json.loads(manifest.read_text("utf-8"))
    manifest.write_text(json.dumps({**data, "format": library_index.FORMAT + 1}), "utf-8")


def _manifest_not_json(folder: Path) -> None:
    (folder.parent / library_index.MANIFEST).write_text('{"format": 1, "gen', "utf-8")


@pytest.mark.parametrize(
    "damage, notice",
    [
        (_truncate_catalog, "damaged"),
        (_garbage_terms, "damaged"),
        (_lose_keyword_ids, "damaged"),
        (_shorten_terms, "damaged"),
        (_other_format, "another version"),
        (_manifest_not_json, "damaged"),
    ],
    ids=["truncated catalog", "garbage array", "missing file", "short array", "format", "json"],
)
def test_a_damaged_or_foreign_index_is_rebuilt_with_a_notice(
    library_copy, embedder, reference, caplog, damage, notice
):
    caplog.set_level(logging.WARNING)
    manifest = json.loads((directory(library_copy) / library_index.MANIFEST).read_text("utf-8"))
    damage(directory(library_copy) / manifest["folder"])
    engine = open_engine(library_copy, embedder)
    assert engine.snapshot.catalog == reference["catalog"]
    assert results(engine) == reference["results"]
    said = notices(caplog)
    assert len(said) == 1 and notice in said[0] and "rebuilding the library index" in said[0]
    assert "\n" not in said[0]
    assert saved_now(library_copy, embedder) is not None  # saved again, whole


def test_a_library_whose_index_cannot_be_saved_still_opens(
    library_copy, embedder, reference, caplog
):
    caplog.set_level(logging.WARNING)
    shutil.rmtree(library_copy / "rag-index")
    (library_copy / "rag-index").write_text("a file where the index folder goes", "utf-8")
    engine = open_engine(library_copy, embedder)
    engine.reload(from_store=True)
    assert engine.snapshot.catalog == reference["catalog"]
    assert results(engine) == reference["results"]
    assert any("could not save the library index" in n for n in notices(caplog))


# A process that, told "go", does what an ingest's last step does: the store's content
# changes (a new generation), then the index is rebuilt from the store and saved.
_WRITER = """
import sys
from pathlib import Path
from rag.config import Config
from rag.engine import Engine
engine = Engine(Config.from_env({}, store=Path(sys.argv[1])))
engine.store.count_chunks()
print("ready", flush=True)
sys.stdin.readline()
engine.store.new_generation()
engine.reload(from_store=True)
print("done", flush=True)
"""


def _writer(store: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_killed_index_write_is_never_used(library_copy, embedder, reference):
    """SIGKILL at points spread over the rebuild and save: the next open either finds
    no usable index (and rebuilds) or a whole one for the store's current content."""
    proc = _writer(library_copy)
    started = time.monotonic()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "done"
    duration = time.monotonic() - started  # the rebuild and save, on this machine now
    proc.wait()
    found = []
    for fraction in (0.4, 0.7, 0.85, 0.95, 1.1):
        proc = _writer(library_copy)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        saved = saved_now(library_copy, embedder)
        found.append(saved is not None)
        if saved is not None:  # a whole index, for what the store holds now
            assert saved.catalog == reference["catalog"]
            assert sorted(saved.keyword.chunk_ids) == sorted(
                reference["engine"].snapshot.retriever.keyword.chunk_ids
            )
            assert saved.terms.papers == len(reference["catalog"])
        engine = open_engine(library_copy, embedder)
        assert engine.snapshot.catalog == reference["catalog"]
        assert results(engine) == reference["results"]
    assert not all(found), "no kill landed before the index was saved"


def test_term_table_round_trips(tmp_path):
    texts = {"a": "Sharp minima generalize.", "b": "Flat minima and sharp ones.", "c": ""}
    from rag.keyword import KeywordIndex

    table = TermTable(KeywordIndex([]).terms_of, texts)
    table.save(tmp_path / "terms")
    loaded = TermTable.load(tmp_path / "terms", table.terms_of)
    for paper_id in (*texts, "missing"):
        assert loaded.paper_terms(paper_id) == table.paper_terms(paper_id)
    assert [loaded.df(t) for t in ("minima", "sharp", "flat", "none")] == [2, 2, 1, 0]
    assert loaded.idf("minima") == table.idf("minima")
