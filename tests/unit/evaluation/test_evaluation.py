"""The eval suite: pure metrics with literal inputs, question-file validation, the
report formatting, the calibration script, and real runs over the bundled library
(through run_eval and through `rag eval`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_rag

from rag.errors import InputError
from rag.evaluation import MODES, load_questions, run_eval
from rag.evaluation.metrics import (
    aggregate,
    citation_precision,
    claim_counts,
    gold_ranks,
    hit_at,
    keyword_recall,
    marker_counts,
    percentile,
    recall_at,
    reciprocal_rank,
    score_row,
)
from rag.evaluation.report import ablation_table, fmt, format_report, markdown_table
from rag.evaluation.runner import DEFAULT_SETS
from rag.tuning import Tuning

TUNED = Tuning().tuned_on  # "eval/questions.jsonl + eval/train.jsonl"

GOLD = ["Boundary thickness and robustness in learning models"]
SAM = "Sharpness-Aware Minimization for Efficiently Improving Generalization"


# ---------------------------------------------------------------- retrieval metrics
def test_gold_titles_match_case_and_punctuation_insensitively():
    retrieved = ["Other paper", "BOUNDARY THICKNESS, and Robustness in Learning Models!"]
    assert gold_ranks(retrieved, GOLD) == [2]
    assert hit_at(retrieved, GOLD) == 1.0
    assert hit_at(retrieved, GOLD, k=1) == 0.0
    assert reciprocal_rank(retrieved, GOLD) == 0.5


def test_hit_and_mrr_when_gold_is_missing_or_ranked_late():
    retrieved = [f"paper {i}" for i in range(6)] + GOLD
    assert hit_at(retrieved, GOLD) == 0.0
    assert reciprocal_rank(retrieved, GOLD) == pytest.approx(1 / 7)
    assert reciprocal_rank(["x", "y"], GOLD) == 0.0
    assert hit_at([], GOLD) == 0.0


def test_metrics_without_gold_do_not_apply():
    assert hit_at(["a"], []) is None
    assert recall_at(["a"], []) is None
    assert reciprocal_rank(["a"], []) is None
    assert citation_precision(["a"], []) is None


def test_recall_counts_each_gold_paper_once_within_the_cut():
    gold = ["A", "B", "C", "D"]
    retrieved = ["a", "x", "a!", "b", "y", "c", "d"]
    assert recall_at(retrieved, gold) == 0.5  # a and b in the top 5; the repeat of a counts once
    assert recall_at(retrieved, gold, k=None) == 1.0
    assert recall_at(retrieved, ["A", "a."]) == 1.0  # duplicate gold titles are one paper


def test_citation_precision():
    assert citation_precision([SAM.upper(), "Unrelated"], [SAM]) == 0.5
    assert citation_precision([SAM], [SAM, "Other gold"]) == 1.0
    assert citation_precision(["Unrelated"], [SAM]) == 0.0
    assert citation_precision([], [SAM]) is None


def test_keyword_recall():
    answer = "Maximizing it is akin to MIXUP training; THIN boundaries overfit [1]."
    assert keyword_recall(answer, ["mixup", "thin"]) == 1.0
    assert keyword_recall(answer, ["mixup", "thick", "cutout"]) == pytest.approx(1 / 3)
    assert keyword_recall("a 2.78x\nspeed-up", ["2.78x speed-up"]) == 1.0
    assert keyword_recall(answer, []) is None


def test_marker_and_claim_counts():
    answer = "IBP is fast [1]. It is tight [2, 3]. It scales."
    assert marker_counts(answer, [], 5) == (3, 3)
    assert marker_counts(answer, [], 2) == (2, 3)  # [3] points past the sources
    removed = ["removed citation [7]: no such source", "uncited claim: 'It scales.'"]
    assert marker_counts(answer, removed, 5) == (3, 4)
    assert claim_counts(answer) == (2, 3)
    assert marker_counts("No markers here.", [], 5) == (0, 0)


def test_percentile():
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([], 50) is None


# ------------------------------------------------------------ per-question scoring
def _row(
    kind="factoid",
    answer="SAM seeks flat minima [1].",
    refused=False,
    cited=(SAM,),
    retrieved=(SAM,),
    **extra,
):
    row = {
        "id": "q1",
        "kind": kind,
        "answer": answer,
        "refused": refused,
        "citations": [{"n": i + 1, "title": t, "support": 0.8} for i, t in enumerate(cited)],
        "retrieved": [{"title": t} for t in retrieved],
        "warnings": [],
        "latency_s": 1.0,
        "error": None,
        "gold_titles": [SAM] if kind != "unanswerable" else [],
        "answer_keywords": ["flat minima"] if kind != "unanswerable" else [],
    }
    row.update(extra)
    return row


def test_answerable_question_passes_with_gold_retrieved_and_cited():
    scores = score_row(_row())
    assert scores["passed"] is True
    assert scores["failure"] is None
    assert (scores["hit5"], scores["citation_precision"], scores["keyword_recall"]) == (
        1.0,
        1.0,
        1.0,
    )
    assert scores["citation_validity"] == 1.0
    assert scores["cited_sentence_share"] == 1.0


def test_answerable_question_fails_when_no_gold_is_cited():
    scores = score_row(
        _row(cited=("Other paper",), retrieved=(SAM, "Other paper"), answer="X [2].")
    )
    assert scores["passed"] is False
    assert scores["citation_precision"] == 0.0
    assert "cited no gold paper" in scores["failure"]


def test_refused_answerable_question_gets_no_keyword_credit():
    answer = "I cannot answer this from the papers in the library. Closest: flat minima."
    scores = score_row(_row(answer=answer, refused=True, cited=()))
    assert scores["passed"] is False
    assert scores["keyword_recall"] == 0.0
    assert scores["citation_precision"] is None
    assert scores["claims"] == 0
    assert "refused" in scores["failure"]


def test_gold_outside_the_top5_fails_and_says_where_it_was():
    retrieved = [f"paper {i}" for i in range(5)] + [SAM]
    scores = score_row(_row(retrieved=retrieved, cited=(SAM,), answer="A [6]."))
    assert scores["passed"] is False
    assert "first at rank 6" in scores["failure"]


def test_unanswerable_question_passes_only_when_refused():
    assert score_row(_row("unanswerable", refused=True, cited=()))["passed"] is True
    answered = score_row(
        _row("unanswerable", cited=("Other",), retrieved=("Other",), answer="X [1].")
    )
    assert answered["passed"] is False
    assert answered["failure"].startswith("answered instead of refusing")
    assert answered["hit5"] is None and answered["keyword_recall"] is None


def test_error_row_counts_as_refusal():
    row = _row(
        "unanswerable",
        answer="no paper matches",
        refused=True,
        cited=(),
        retrieved=(),
        error="no paper matches",
    )
    assert score_row(row)["passed"] is True
    row = _row(
        answer="no paper matches", refused=True, cited=(), retrieved=(), error="no paper matches"
    )
    assert score_row(row)["failure"] == "error: no paper matches"


def test_aggregate_groups_and_rates():
    rows = [
        _row(),
        _row(kind="numeric", refused=True, cited=(), answer="I cannot answer this."),
        _row("unanswerable", refused=True, cited=(), answer="I cannot answer this."),
        _row("unanswerable", cited=("Other",), retrieved=("Other",), answer="X [1]."),
    ]
    rows[1]["hard"] = True
    for row in rows:
        row.update(score_row(row))
    metrics = aggregate(rows)
    assert list(metrics) == ["overall", "factoid", "numeric", "unanswerable", "hard"]
    overall = metrics["overall"]
    assert overall["refusal_accuracy"] == 0.5
    assert overall["missed_refusal_rate"] == 0.5
    assert overall["false_refusal_rate"] == 0.5
    assert overall["pass_rate"] == 0.5
    assert overall["citation_precision"] == 1.0  # the refused answer is not counted
    assert "refusal_accuracy" not in metrics["factoid"]
    assert "hit5" not in metrics["unanswerable"]
    assert metrics["hard"]["false_refusal_rate"] == 1.0
    assert all(
        0.0 <= v <= 1.0 for m in metrics.values() for k, v in m.items() if "latency" not in k
    )


# -------------------------------------------------------------- question file
VALID = {
    "id": "q1",
    "question": "What?",
    "kind": "factoid",
    "gold_titles": ["T"],
    "answer_keywords": ["k"],
}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_valid_file_loads_with_extra_fields_and_blank_lines(tmp_path):
    second = {
        **VALID,
        "id": "q2",
        "kind": "unanswerable",
        "gold_titles": [],
        "answer_keywords": [],
        "notes": "x",
        "hard": True,
    }
    path = _write(tmp_path, [json.dumps(VALID), "", json.dumps(second)])
    questions = load_questions(path)
    assert [(q.id, q.line, q.hard, q.answerable) for q in questions] == [
        ("q1", 1, False, True),
        ("q2", 3, True, False),
    ]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "q2", "question": ', "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        (
            json.dumps({k: v for k, v in VALID.items() if k != "gold_titles"} | {"id": "q2"}),
            "missing field 'gold_titles'",
        ),
        (json.dumps(VALID | {"id": "q2", "kind": "opinion"}), "'kind' must be one of"),
        (json.dumps(VALID | {"id": "q2", "gold_titles": "T"}), "'gold_titles' must be a list"),
        (
            json.dumps(VALID | {"id": "q2", "answer_keywords": [1]}),
            "'answer_keywords' must be a list",
        ),
        (
            json.dumps(VALID | {"id": "q2", "question": " "}),
            "'question' must be a non-empty string",
        ),
        (json.dumps(VALID | {"id": "q2", "gold_titles": []}), "needs at least one title"),
        (json.dumps(VALID | {"id": "q2", "kind": "unanswerable"}), "must have empty 'gold_titles'"),
        (json.dumps(VALID), "duplicate id 'q1' (first used on line 1)"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, bad_line, message):
    path = _write(tmp_path, [json.dumps(VALID), "", bad_line])
    with pytest.raises(InputError) as err:
        load_questions(path)
    text = str(err.value)
    assert text.startswith(f"{path}:3: ")
    assert message in text
    assert "\n" not in text


def test_empty_and_missing_files(tmp_path):
    empty = _write(tmp_path, ["", "  "])
    with pytest.raises(InputError, match="no questions in the file"):
        load_questions(empty)
    with pytest.raises(InputError, match="no such question file"):
        load_questions(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("name", [path.name for path in DEFAULT_SETS])
def test_bundled_question_files_match_the_bundled_library(name, engine):
    """Every gold title is a paper of the bundled library, and every expected keyword
    is in one of the gold abstracts, so the eval measures the system, not typos."""
    from rag.types import normalise_title

    questions = load_questions(ROOT / "eval" / name)
    assert len(questions) == len({q.id for q in questions}) >= 20
    papers = {normalise_title(p.title): p for p in engine.snapshot.catalog.values()}
    for q in questions:
        gold = [papers.get(normalise_title(t)) for t in q.gold_titles]
        assert all(gold), f"{q.id}: a gold title is not in the library"
        for keyword in q.answer_keywords:
            assert any(keyword.lower() in p.abstract.lower() for p in gold), (q.id, keyword)


# ------------------------------------------------------------------ formatting
def test_markdown_table_escapes_pipes():
    assert markdown_table(["a"], [["x|y"]]).splitlines() == ["| a |", "|---|", "| x\\|y |"]
    assert fmt(None) == "–" and fmt(0.666) == "0.67"


def test_ablation_table_has_a_row_per_mode_and_a_column_per_group():
    ablation = {
        "dense": {
            "overall": {"hit5": 0.5, "recall5": 0.25, "mrr": 0.4, "latency_p50_ms": 12.3},
            "factoid": {"hit5": 1.0, "recall5": 1.0, "mrr": 1.0},
        },
        "bm25": {
            "overall": {"hit5": 1.0, "recall5": 0.5, "mrr": 0.75, "latency_p50_ms": 1.2},
            "factoid": {"hit5": 1.0, "recall5": 1.0, "mrr": 1.0},
        },
    }
    lines = ablation_table(ablation).splitlines()
    assert lines[0] == "| retriever | overall | factoid | p50 ms |"
    assert lines[2] == "| dense | 0.50 / 0.25 / 0.40 | 1.00 / 1.00 / 1.00 | 12 |"
    assert lines[3].startswith("| bm25 | 1.00 / 0.50 / 0.75 |")


def test_format_report_sections():
    data = {
        "created": "2025-01-02T03:04:05",
        "backend": "extractive",
        "backends": {"extractive": 2},
        "questions_file": "eval/q.jsonl",
        "store": "/tmp/store",
        "papers": 9,
        "top_k": 5,
        "counts": {"overall": 2, "factoid": 1, "unanswerable": 1},
        "metrics": {
            "overall": {"hit5": 1.0, "pass_rate": 0.5},
            "factoid": {"hit5": 1.0},
            "unanswerable": {"refusal_accuracy": 0.0},
        },
        "ablation": {
            "dense": {"overall": {"hit5": 1.0, "recall5": 1.0, "mrr": 1.0, "latency_p50_ms": 5.0}}
        },
        "failed": [
            {
                "id": "q2",
                "kind": "unanswerable",
                "reason": "answered instead of refusing (cited 1 papers)",
            }
        ],
        "notes": ["q9: gold title 'X' is not in the library"],
    }
    text = format_report(data)
    assert text.startswith("# Eval report, 2025-01-02 03:04\n")
    assert "- Backend: extractive\n" in text
    assert "`eval/q.jsonl`, 2 (factoid 1, unanswerable 1)" in text
    assert "Passed: 1 of 2" in text
    assert "| overall | 2 | 1.00 | – |" in text
    assert "## Retriever ablation" in text and "| dense | 1.00 / 1.00 / 1.00 | 5 |" in text
    assert "## Failed questions (1)" in text and "| q2 | unanswerable | answered instead" in text
    assert "- q9: gold title 'X' is not in the library" in text
    assert "## Retriever ablation" not in format_report(data | {"ablation": {}})


# ------------------------------------------------------------------ tuning
def test_fit_tuning_writes_a_tuning_file_the_engine_loads(library_store, small_questions, tmp_path):
    """The fit script fits both models on one question file and writes a tuning file
    that names that file; the engine loads it through RAG_TUNING."""
    out = tmp_path / "tuning.json"
    questions = json.loads(small_questions.read_text(encoding="utf-8").splitlines()[0])
    extra = [{**questions, "id": f"f{i}"} for i in range(2, 4)]
    path = tmp_path / "fit.jsonl"
    path.write_text(small_questions.read_text(encoding="utf-8")
                    + "".join(json.dumps(q) + "\n" for q in extra), encoding="utf-8")  # fmt: skip
    run = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "fit_tuning.py"), "--questions", str(path),
         "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "RAG_STORE": str(library_store)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    tuning = Tuning.load(out)
    assert tuning.tuned_on == str(path)
    assert {name for name, _ in tuning.refusal.weights} == {"sim", "unknown", "names", "top", "gap"}
    assert {name for name, _ in tuning.sentence.weights} == {"cos", "role", "figure", "opening"}
    assert any("unanswerable" in note for note in tuning.notes)
    from rag.config import Config
    from rag.engine import Engine

    loaded = Engine(Config.from_env({"RAG_TUNING": str(out), "RAG_STORE": str(library_store)}))
    assert loaded.tuning == tuning


def test_the_default_tuning_is_what_the_fit_gives_on_the_tuned_file(library_store, tmp_path):
    """rag/tuning.py's fitted values come from eval/fit_tuning.py on the file it names:
    refitting reproduces them (to HNSW's rare retrieval differences after a restart)."""
    out = tmp_path / "tuning.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "fit_tuning.py"), "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
        env={**os.environ, "RAG_STORE": str(library_store)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    fitted, default = Tuning.load(out), Tuning()
    assert fitted.tuned_on == default.tuned_on == "eval/questions.jsonl + eval/train.jsonl"
    for name in ("refusal", "sentence"):
        got, want = getattr(fitted, name), getattr(default, name)
        assert [n for n, _ in got.weights] == [n for n, _ in want.weights]
        assert got.bias == pytest.approx(want.bias, abs=0.05), name
        for (_, g), (_, w) in zip(got.weights, want.weights, strict=True):
            assert g == pytest.approx(w, abs=0.05), name


# ------------------------------------------------------------ real runs on the library
def _unrelated_author_pair(engine) -> tuple[str, str]:
    """Two authors of the library who share no paper, both recognised in a question."""
    index = engine.snapshot.authors
    yu = index.paper_ids("Yaodong Yu")
    for paper in engine.papers():
        for name in paper.authors:
            try:
                ids = index.paper_ids(name)
            except InputError:
                continue
            question = f"Which papers co-authored by Yaodong Yu and {name} study protein folding?"
            if not ids & yu and len(index.find_in(question)) == 2:
                return "Yaodong Yu", name
    raise AssertionError("the library has no two authors without a joint paper")


@pytest.fixture
def small_questions(tmp_path, engine) -> Path:
    first, second = _unrelated_author_pair(engine)
    questions = [
        {"id": "f1", "kind": "factoid", "hard": False,
         "question": "Which architecture family fits more training samples per parameter than MLPs and "
                     "vision transformers, even with random labels?",
         "gold_titles": ["Just How Flexible are Neural Networks in Practice?"],
         "answer_keywords": ["convolutional networks"]},
        {"id": "u1", "kind": "unanswerable",
         "question": "How many parameters does GPT-5 have, and on how many tokens was it trained?",
         "gold_titles": [], "answer_keywords": [], "notes": "no abstract says"},
        {"id": "a1", "kind": "unanswerable",
         "question": f"Which papers co-authored by {first} and {second} study protein folding?",
         "gold_titles": [], "answer_keywords": []},
    ]  # fmt: skip
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return path


ROW_FIELDS = {
    "id", "question", "kind", "answer", "refused", "citations", "retrieved", "latency_s", "warnings",
    "backend", "gold_titles", "hit5", "recall5", "rr", "citation_precision", "keyword_recall",
    "passed", "evidence", "error",
}  # fmt: skip


def test_run_eval_end_to_end(engine, small_questions, tmp_path):
    calls = []
    out = tmp_path / "out"
    report = run_eval(
        engine, small_questions, out, progress=lambda d, t, m: calls.append((d, t, m))
    )

    assert report.results_path == out / "results.jsonl" and report.report_path == out / "report.md"
    rows = [
        json.loads(line) for line in report.results_path.read_text(encoding="utf-8").splitlines()
    ]
    assert [r["id"] for r in rows] == ["f1", "u1", "a1"]
    for row in rows:
        assert ROW_FIELDS <= set(row)
        assert all({"paper_id", "title", "score"} <= set(h) for h in row["retrieved"])
        assert all({"n", "title", "snippet", "support"} <= set(c) for c in row["citations"])
        assert row == {**row, **score_row(row)}  # the stored metrics are the row's own
    factoid, _, bad_author = rows
    assert factoid["hit5"] == 1.0 and factoid["rr"] > 0
    assert 0.0 <= factoid["evidence"]["p_answerable"] <= 1.0
    assert {"sim", "cover", "unknown", "names"} <= set(factoid["evidence"])
    assert bad_author["error"] and bad_author["refused"] is True
    assert bad_author["answer"] == bad_author["error"] and bad_author["passed"] is True

    data = json.loads(report.json_path.read_text(encoding="utf-8"))
    for group, values in report.metrics.items():
        assert data["metrics"][group] == pytest.approx(values, abs=1e-4)
    assert set(data["metrics"]) == {"overall", "factoid", "unanswerable"}
    assert set(data["ablation"]) == set(MODES) == set(report.ablation)
    for group in [
        *data["metrics"].values(),
        *(g for mode in data["ablation"].values() for g in mode.values()),
    ]:
        for name, value in group.items():
            assert value >= 0 and ("latency" in name or value <= 1), (name, value)
    assert data["ablation"]["bm25"]["overall"]["latency_p50_ms"] >= 0
    assert data["backend"] == report.backend == "extractive"

    text = report.report_path.read_text(encoding="utf-8")
    assert "## Retriever ablation" in text
    assert all(f"| {mode} | " in text for mode in MODES)
    assert (out / "ablation.jsonl").read_text(encoding="utf-8").count("\n") == len(MODES) * 1

    assert [d for d, _, _ in calls] == list(range(1, 3 + len(MODES) + 1))
    assert {t for _, t, _ in calls} == {3 + len(MODES)}
    first, second = report.summary().splitlines()[:2]
    assert first.endswith(f"(fitted on `{TUNED}`; this file is held out)"), first
    assert second.startswith("3 questions, backend extractive: pass rate ")
    assert data["tuned_on"] == TUNED
    assert f"- Tuning: fitted on `{TUNED}`; this file is held out" in text


def test_rag_eval_reports_several_files_apart_and_side_by_side(small_questions, library_store,
                                                               tmp_path):  # fmt: skip
    other = tmp_path / "other.jsonl"
    other.write_text(small_questions.read_text(encoding="utf-8").splitlines()[0] + "\n",
                     encoding="utf-8")  # fmt: skip
    out = tmp_path / "multi"
    run = run_rag("eval", "--questions", str(small_questions), "--questions", str(other),
                  "--out", str(out), "--store", str(library_store), "--no-ablation")  # fmt: skip
    assert run.returncode == 0, run.stderr
    for stem, n in (("small", 3), ("other", 1)):
        data = json.loads((out / stem / "report.json").read_text(encoding="utf-8"))
        assert data["counts"]["overall"] == n and data["tuned_on"] == TUNED
    table = (out / "comparison.md").read_text(encoding="utf-8")
    assert "| metric | small.jsonl (held out) | other.jsonl (held out) |" in table
    assert "| questions | 3 | 1 |" in table
    assert f"fitted on `{TUNED}`" in table and table in run.stdout


def test_rag_eval_cli(small_questions, library_store, tmp_path):
    out = tmp_path / "cli_out"
    run = run_rag("eval", "--questions", str(small_questions), "--out", str(out),
                  "--store", str(library_store), "--no-ablation", "--top-k", "3")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "3 questions, backend extractive" in run.stdout
    assert sum(1 for _ in (out / "results.jsonl").open()) == 3
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["ablation"] == {} and data["counts"]["overall"] == 3
    assert data["top_k"] == 3 and "top-k 3" in (out / "report.md").read_text(encoding="utf-8")
    assert "## Retriever ablation" not in (out / "report.md").read_text(encoding="utf-8")


def test_rag_eval_cli_reports_a_bad_question_file(tmp_path, library_store):
    bad = _write(tmp_path, [json.dumps(VALID), json.dumps(VALID | {"id": "q2", "kind": "opinion"})])
    run = run_rag(
        "eval", "--questions", str(bad), "--out", str(tmp_path / "o"), "--store", str(library_store)
    )
    assert run.returncode == 1
    assert f"{bad}:2: 'kind' must be one of" in run.stderr
    assert "Traceback" not in run.stderr
