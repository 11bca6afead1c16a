"""Retrieval benchmarks in BEIR's format: trec_eval metrics with hand-computed values,
the loader and its one-line errors, ingest that keeps document ids and embeds only
what changed, retrieval with no filters read from the query, and `rag
bench-retrieval` end to end.

tests/fixtures/beir_tiny is written for these tests (16 short abstracts, two sharing a
title, one about a year range; 9 queries over a test and a train split). The real
embedding model and a real Chroma store in tmp_path, as everywhere; no public benchmark.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_rag

from rag.config import Config
from rag.errors import InputError, NoMatchError, ParseError
from rag.evaluation import MODES
from rag.evaluation.beir import load_beir
from rag.evaluation.benchmark import (
    COLLECTION,
    STORE_DIR,
    benchmark_engine,
    ingest_corpus,
    run_benchmark,
)
from rag.evaluation.trec import dcg, ndcg_at, recall_at, reciprocal_rank_at
from rag.ingest import prepare
from rag.store import Store
from rag.types import Paper

TINY = ROOT / "tests" / "fixtures" / "beir_tiny"
SAME_TITLE = "Vitamin D supplementation and bone health"
OBESITY = "Childhood obesity has doubled since 1990."  # q3: a claim, whose year is content


# ---------------------------------------------------------------- trec_eval metrics
def test_ndcg_uses_graded_gains_and_log2_discount():
    # gains 1, 0, 2 at ranks 1-3: DCG = 1 + 2/log2(4) = 2; ideal 2, 1: 2 + 1/log2(3)
    assert ndcg_at(["b", "x", "a"], {"a": 2, "b": 1, "c": 0}) == pytest.approx(
        2 / (2 + 1 / math.log2(3))
    )
    # gains 0, 2, 0, 3: 2/log2(3) + 3/log2(5); ideal 3, 2, 1 (e is judged but not retrieved)
    qrels = {"a": 0, "b": 2, "c": 0, "d": 3, "e": 1}
    expected = (2 / math.log2(3) + 3 / math.log2(5)) / (3 + 2 / math.log2(3) + 1 / 2)
    assert ndcg_at(["a", "b", "c", "d"], qrels) == pytest.approx(expected)
    assert expected == pytest.approx(0.536322, abs=1e-6)
    assert dcg([3, 2, 1]) == pytest.approx(3 + 2 / math.log2(3) + 0.5)


def test_ndcg_cut_perfect_and_no_relevant():
    assert ndcg_at(["a", "b"], {"a": 1, "b": 1}) == 1.0
    assert ndcg_at(["b", "a"], {"a": 2, "b": 1}) < 1.0
    ranking = [f"x{i}" for i in range(10)] + ["a"]
    assert ndcg_at(ranking, {"a": 1}, 10) == 0.0  # rank 11 is past the cut
    assert ndcg_at(ranking, {"a": 1}, 11) == pytest.approx(1 / math.log2(12))
    assert ndcg_at(["a"], {"a": 0}) == 0.0  # nothing relevant: 0, as trec_eval
    assert ndcg_at(["a", "a", "b"], {"a": 1, "b": 1}, 2) == 1.0  # a repeat counts once


def test_recall_divides_by_every_relevant_document():
    qrels = {"a": 1, "b": 2, "c": 1, "z": 0}
    ranking = ["a", "z", "x", "b"] + [f"x{i}" for i in range(96)] + ["c"]
    assert recall_at(ranking, qrels, 1) == pytest.approx(1 / 3)
    assert recall_at(ranking, qrels, 10) == pytest.approx(2 / 3)
    assert recall_at(ranking, qrels, 100) == pytest.approx(2 / 3)  # c is 101st
    assert recall_at(ranking, qrels, 101) == 1.0
    assert recall_at(["z"], {"z": 0}, 10) == 0.0


def test_reciprocal_rank_within_the_cut():
    qrels = {"d": 1, "e": 2, "a": 0}
    assert reciprocal_rank_at(["a", "b", "c", "d", "e"], qrels) == 0.25
    assert reciprocal_rank_at(["a", "b", "c", "d"], qrels, 3) == 0.0
    assert reciprocal_rank_at(["e"], qrels) == 1.0


# ---------------------------------------------------------------- the loader
def test_the_tiny_dataset_loads_with_its_ids_and_splits():
    data = load_beir(TINY, "test")
    ids = [p.paper_id for p in data.corpus]
    assert ids == [f"d{i:02d}" for i in range(1, 17)]
    assert data.corpus[0].title == data.corpus[1].title == SAME_TITLE
    assert data.corpus[0].sources == ("corpus.jsonl",)
    assert not any(p.authors or p.year for p in data.corpus)
    # q8 has only a grade-0 judgement: left out and counted; q9 is train-only.
    assert list(data.queries) == ["q1", "q2", "q3", "q4", "q5", "q6", "q7"]
    assert data.unjudged == 1
    assert data.qrels["q1"] == {"d01": 2, "d02": 1}
    assert data.qrels["q6"] == {"d04": 2, "d16": 0}
    assert data.queries["q3"] == OBESITY
    assert list(load_beir(TINY, "test", limit=2).queries) == ["q1", "q2"]
    train = load_beir(TINY, "train")
    assert train.queries == {"q9": "Losing sleep harms memory."} and train.unjudged == 0


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(TINY, target)
    return target


def _edit_line(path: Path, n: int, text: str | None) -> None:
    """Replace line n (1-based) of a file, or delete it (None)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if text is None:
        del lines[n - 1]
    else:
        lines[n - 1] = text + "\n"
    path.write_text("".join(lines), encoding="utf-8")


BAD_INPUTS = {
    "missing corpus": (
        lambda d: (d / "corpus.jsonl").unlink(),
        "test",
        "corpus.jsonl: missing; a BEIR folder holds corpus.jsonl, queries.jsonl and "
        "qrels/<split>.tsv",
    ),
    "corpus line not JSON": (
        lambda d: _edit_line(d / "corpus.jsonl", 3, '{"_id": "d03", "title": "Obesity'),
        "test",
        "corpus.jsonl:3: not JSON (",
    ),
    "corpus line without id": (
        lambda d: _edit_line(d / "corpus.jsonl", 4, '{"title": "T", "text": "x"}'),
        "test",
        'corpus.jsonl:4: no "_id" string: every line needs one',
    ),
    "duplicate document id": (
        lambda d: _edit_line(d / "corpus.jsonl", 5, '{"_id": "d01", "text": "again"}'),
        "test",
        "corpus.jsonl:5: _id 'd01' is also on line 1: ids must be unique",
    ),
    "query without text": (
        lambda d: _edit_line(d / "queries.jsonl", 2, '{"_id": "q2"}'),
        "test",
        'queries.jsonl:2: no "text" string: every line needs one',
    ),
    "unknown split": (
        lambda d: None,
        "dev",
        "dev.tsv: no such split 'dev'; pass --split with one of: test, train",
    ),
    "qrels naming an unknown document": (
        lambda d: _edit_line(d / "qrels" / "test.tsv", 4, "q2\td99\t1"),
        "test",
        "test.tsv:4: corpus id 'd99' is not in corpus.jsonl: use the corpus these "
        "judgements were written for",
    ),
    "qrels naming an unknown query": (
        lambda d: _edit_line(d / "qrels" / "test.tsv", 2, "q77\td01\t2"),
        "test",
        "test.tsv:2: query id 'q77' is not in queries.jsonl",
    ),
    "nothing graded relevant": (
        lambda d: (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq8\td08\t0\n"),
        "test",
        "test.tsv: no query has a document graded above 0: nothing to score",
    ),
    "qrels line with two columns": (
        lambda d: _edit_line(d / "qrels" / "test.tsv", 3, "q1 d02 1"),
        "test",
        "test.tsv:3: expected query-id<TAB>corpus-id<TAB>integer score",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_file(case, tmp_path):
    damage, split, message = BAD_INPUTS[case]
    root = _copy(tmp_path)
    damage(root)
    with pytest.raises((InputError, ParseError)) as err:
        load_beir(root, split)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(root))


def test_a_path_that_is_no_folder(tmp_path):
    with pytest.raises(InputError, match="not a folder; a BEIR folder holds"):
        load_beir(tmp_path / "absent", "test")


# ---------------------------------------------------------------- the store and retrieval
@pytest.fixture
def bench(tmp_path, embedder):
    """An engine over a fresh benchmark store, the tiny corpus ingested once."""
    data = load_beir(TINY, "test")
    engine = benchmark_engine(Config.from_env({}), tmp_path / "store", embedder)
    first = ingest_corpus(engine, data)
    return engine, data, first


def test_ids_survive_ingest_and_equal_titles_stay_apart(bench):
    engine, data, first = bench
    assert (first.report.added, first.report.unchanged, first.rebuilt) == (16, 0, None)
    papers = {p.paper_id: p for p in engine.papers()}
    assert sorted(papers) == [p.paper_id for p in data.corpus]
    assert papers["d01"].title == papers["d02"].title == SAME_TITLE
    assert "hip fractures" in papers["d01"].abstract
    assert "children aged 6 to 12" in papers["d02"].abstract
    hits = engine.retrieve("vitamin D and bone density of the spine in children", 2,
                           read_filters=False).hits  # fmt: skip
    assert [h.paper.paper_id for h in hits][0] == "d02"


def test_a_rerun_embeds_nothing_and_a_changed_corpus_only_what_changed(bench, tmp_path):
    engine, data, first = bench
    assert first.report.embedded_texts > 16
    again = ingest_corpus(engine, data).report
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 16, 0)
    assert again.embedded_texts == 0

    root = _copy(tmp_path)
    corpus = root / "corpus.jsonl"
    _edit_line(corpus, 16, None)  # d16 goes; d05 changes its text; d17 is new
    _edit_line(corpus, 5, json.dumps({"_id": "d05", "title": "Statins and muscle symptoms",
                                      "text": "Muscle pain was as common on placebo."}))  # fmt: skip
    with corpus.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"_id": "d17", "title": SAME_TITLE, "text": "A third study."}) + "\n")
    _edit_line(root / "qrels" / "test.tsv", 10, None)  # the judgement naming d16
    changed = load_beir(root, "test")
    report = ingest_corpus(engine, changed).report
    assert (report.added, report.updated, report.unchanged, report.removed) == (1, 1, 14, 1)
    by_id = {p.paper_id: p for p in changed.corpus}
    settings = engine.settings_fingerprint
    texts = [prepare(by_id[pid], settings, 320, 48) for pid in ("d05", "d17")]
    assert report.embedded_texts == sum(len(t.chunks) + len(t.sentences) for t in texts)
    ids = {p.paper_id for p in engine.papers()}
    assert "d16" not in ids and {"d01", "d02", "d17"} <= ids


def test_a_store_built_with_another_model_is_rebuilt(tmp_path, embedder):
    store = tmp_path / "store"
    Store(store, "another-model", 384, collection=COLLECTION)  # what an older run left
    engine = benchmark_engine(Config.from_env({}), store, embedder)
    ingested = ingest_corpus(engine, load_beir(TINY, "test"))
    assert ingested.rebuilt and "'another-model'" in ingested.rebuilt
    assert ingested.report.added == 16 and engine.count() == 16


def test_a_benchmark_store_never_uses_the_users_library_or_server(tmp_path, embedder):
    config = Config.from_env(
        {"RAG_STORE": str(tmp_path / "library"), "RAG_CHROMA_URL": "http://127.0.0.1:9"}
    )
    engine = benchmark_engine(config, tmp_path / "bench", embedder)
    assert engine.config.store == tmp_path / "bench" and engine.config.chroma_url is None
    assert engine.config.collection == COLLECTION


def test_no_filters_are_read_from_a_benchmark_query(bench):
    engine, _, _ = bench
    asked = "Has childhood obesity doubled since 1990?"  # a question: "since 1990" filters
    with pytest.raises(NoMatchError, match="since 1990"):  # no document has a year
        engine.retrieve(asked, 10)
    retrieval = engine.retrieve(asked, 10, read_filters=False)
    assert not retrieval.filters and not retrieval.notes
    assert retrieval.hits[0].paper.paper_id == "d03"


def test_a_claims_year_is_content_not_a_filter(bench):
    engine, _, _ = bench
    retrieval = engine.retrieve(OBESITY, 10)  # read as a user's text, not a benchmark's
    assert not retrieval.filters and retrieval.hits[0].paper.paper_id == "d03"


def test_run_benchmark_scores_every_mode(bench, tmp_path):
    engine, data, first = bench
    report = run_benchmark(engine, data, tmp_path / "out", first)
    assert list(report.modes) == list(MODES)
    assert len(report.rows) == len(MODES) * 7
    for row in report.rows:
        assert row["error"] is None
        assert len(row["top10"]) <= 10 and len(set(row["top100"])) == len(row["top100"])
        qrels = data.qrels[row["id"]]
        assert row["ndcg10"] == ndcg_at(row["top10"], qrels, 10)
        assert row["recall10"] == recall_at(row["top10"], qrels, 10)
        assert row["recall100"] == recall_at(row["top100"], qrels, 100)
        assert row["mrr10"] == reciprocal_rank_at(row["top10"], qrels, 10)
    dense = [r for r in report.rows if r["mode"] == "dense"]
    assert all(len(r["top100"]) == 16 for r in dense)  # deeper than 10: the whole corpus
    for mode, metrics in report.modes.items():
        assert metrics["failed"] == 0
        assert metrics["recall100"] == 1.0, mode
        assert metrics["ndcg10"] > 0.8, mode
        mean = sum(r["ndcg10"] for r in report.rows if r["mode"] == mode) / 7
        assert metrics["ndcg10"] == pytest.approx(mean)
    data_json = json.loads(report.json_path.read_text(encoding="utf-8"))
    assert data_json["queries"] == 7 and data_json["documents"] == 16
    assert data_json["modes"]["hybrid+rerank"]["ndcg10"] == round(
        report.modes["hybrid+rerank"]["ndcg10"], 4
    )
    assert data_json["ingest"]["added"] == 16
    assert "no document graded above 0" in data_json["notes"][0]
    md = report.report_path.read_text(encoding="utf-8")
    assert "| retriever | nDCG@10 | recall@10 | recall@100 | MRR@10 | p50 ms | failed |" in md
    assert "| hybrid+rerank | " in md and "## Definitions" in md
    assert "hybrid+rerank" in report.summary()


def test_the_evaluate_tab_lists_saved_benchmark_reports(bench, tmp_path):
    from ui.eval_tab import BENCHMARK_COLUMNS, NO_BENCHMARK, benchmarks

    engine, data, first = bench
    out = tmp_path / "out"
    table, note = benchmarks(out)  # no folder yet: an empty table and how to make one
    assert table.empty and note == NO_BENCHMARK
    report = run_benchmark(engine, data, out / "beir-tiny-test", first)
    (out / "questions").mkdir()  # a `rag eval` report is not a benchmark
    (out / "questions" / "report.json").write_text(json.dumps({"metrics": {}}), "utf-8")
    (out / "broken").mkdir()
    (out / "broken" / "report.json").write_text('{"benchmark": "x", "mo', "utf-8")
    table, note = benchmarks(out)
    assert list(table.columns) == BENCHMARK_COLUMNS
    assert list(table["retriever"]) == list(MODES)
    assert set(table["benchmark"]) == {data.name} and set(table["split"]) == {"test"}
    for _, row in table.iterrows():
        assert row["nDCG@10"] == f"{round(report.modes[row['retriever']]['ndcg10'], 4):.3f}"
        assert row["failed"] == "0" and row["queries"] == "7"
    assert note.startswith("1 benchmark run(s)")


def test_a_deep_list_goes_past_the_rerank_depth(tmp_path, embedder):
    """A top 100 from a library larger than the rerank depth: every paper once, the
    reranked head first, then the rest in first-stage order."""
    from rag.tuning import RetrievalTuning

    RERANK_DEPTH = RetrievalTuning().rerank_depth

    topics = ["protein", "climate", "vaccine", "galaxy", "enzyme", "soil", "neuron", "river"]
    papers = [
        Paper.create(
            f"Study {i} of {topics[i % 8]} dynamics",
            f"We measured {topics[i % 8]} dynamics in setting {i}. The effect was {i} percent.",
            paper_id=f"s{i}",
        )
        for i in range(48)
    ]
    engine = benchmark_engine(Config.from_env({}), tmp_path / "store", embedder)
    engine.ingest_papers(papers)
    for mode in MODES:
        hits = engine.retrieve("dynamics of protein folding", 100, mode=mode,
                               read_filters=False).hits  # fmt: skip
        ids = [h.paper.paper_id for h in hits]
        assert len(ids) == len(set(ids))
        assert len(ids) == 48 or mode == "bm25"  # BM25 lists only papers sharing a term
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        if mode == "hybrid+rerank":
            reranked = [h for h in hits if "sentence" in h.scores]
            assert len(reranked) == RERANK_DEPTH and hits[:RERANK_DEPTH] == reranked


# ---------------------------------------------------------------- the CLI
def test_rag_bench_retrieval_end_to_end(tmp_path):
    root = _copy(tmp_path)
    out = tmp_path / "out"
    first = run_rag("bench-retrieval", str(root), "--out", str(out), check=True)
    assert "papers: 16 added, 0 updated, 0 unchanged" in first.stdout
    assert (root / STORE_DIR).is_dir()  # the default store, next to the corpus
    assert "tiny (test): 7 queries, 16 documents" in first.stdout
    for mode in MODES:
        assert any(line.startswith(mode + " ") for line in first.stdout.splitlines())
    for name in ("results.jsonl", "report.json", "report.md"):
        assert (out / name).is_file()
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert list(data["modes"]) == list(MODES)
    assert set(data["modes"]["bm25"]) >= {"ndcg10", "recall10", "recall100", "mrr10",
                                          "latency_p50_ms", "failed"}  # fmt: skip

    again = run_rag("bench-retrieval", str(root), "--out", str(out), "--queries-limit", "2",
                    "--split", "test", check=True)  # fmt: skip
    assert "0 added, 0 updated, 16 unchanged" in again.stdout
    assert "(0 texts embedded)" in again.stdout
    assert "tiny (test): 2 queries" in again.stdout

    db = root / STORE_DIR / "chroma.sqlite3"  # damaged (as in test_corrupt_store.py)
    with db.open("r+b") as fh:
        fh.write(bytes(range(256)) * 16)
    damaged = run_rag("bench-retrieval", str(root), "--out", str(out), "--queries-limit", "1")
    assert damaged.returncode == 1
    (line,) = damaged.stderr.strip().splitlines()
    assert line.startswith("Error: ") and line.endswith(": run again with --rebuild")
    rebuilt = run_rag("bench-retrieval", str(root), "--out", str(out), "--queries-limit", "1",
                      "--rebuild", check=True)  # fmt: skip
    assert "papers: 16 added" in rebuilt.stdout


def test_rag_bench_retrieval_reports_bad_input_in_one_line(tmp_path):
    root = _copy(tmp_path)
    _edit_line(root / "corpus.jsonl", 2, "not json")
    result = run_rag("bench-retrieval", str(root), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {root / 'corpus.jsonl'}:2: not JSON (Expecting value): fix or remove the line"
    ]
    assert not (root / STORE_DIR).exists()  # nothing ingested anywhere

    result = run_rag("bench-retrieval", str(TINY), "--split", "dev")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {TINY / 'qrels' / 'dev.tsv'}: no such split 'dev'; pass --split with one "
        "of: test, train"
    ]
    assert not (TINY / STORE_DIR).exists()
