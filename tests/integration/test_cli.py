"""The CLI through its real entry point, on a real Chroma store."""

from __future__ import annotations

import json

from conftest import run_rag

from rag.types import normalise_title

UAP = "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations"


def test_help_lists_every_command():
    result = run_rag("--help", check=True)
    for command in ("ingest", "ask", "papers", "serve", "eval", "remove", "models"):
        assert command in result.stdout


def test_papers_json_lists_every_unique_paper_once(library_store):
    papers = json.loads(
        run_rag("papers", "--json", "--store", str(library_store), check=True).stdout
    )
    assert len(papers) == 437
    assert len({p["paper_id"] for p in papers}) == 437
    assert len({normalise_title(p["title"]) for p in papers}) == 437
    by_title = {p["title"]: p for p in papers}
    white_box = by_title["White-Box Transformers via Sparse Rate Reduction"]
    assert white_box["authors"][:3] == ["Yaodong Yu", "Sam Buchanan", "Druv Pai"]
    assert all(p["abstract"] and p["sources"] for p in papers)


def test_ask_json_cites_the_data_free_paper(library_store):
    out = run_rag(
        "ask", "--json", "--store", str(library_store),
        "Which method crafts universal adversarial perturbations without any training data?",
        check=True,
    )  # fmt: skip
    answer = json.loads(out.stdout)
    assert set(answer) >= {
        "question",
        "answer",
        "refused",
        "citations",
        "retrieved",
        "backend",
        "latency_s",
        "warnings",
    }
    assert not answer["refused"]
    assert UAP in [c["title"] for c in answer["citations"]]
    for c in answer["citations"]:
        assert f"[{c['n']}]" in answer["answer"]
        assert c["snippet"] and set(c) >= {
            "n",
            "paper_id",
            "title",
            "authors",
            "year",
            "snippet",
            "support",
        }
    retrieved = [r["paper_id"] for r in answer["retrieved"]]
    assert len(retrieved) == len(set(retrieved))
    assert answer["backend"] == "extractive"


def test_ask_year_filter_counts_undated_papers_and_can_include_them(library_store):
    question = "What do the papers say about diffusion models?"
    base = ("ask", "--json", "--store", str(library_store), "--since", "2024", question)
    narrow = json.loads(run_rag(*base, check=True).stdout)
    note = next(w for w in narrow["notes"] if w.startswith("filtered by since 2024"))
    assert not any("filtered" in w for w in narrow["warnings"])  # a fact, not a problem
    assert "papers without a year left out" in note
    assert all(r["year"] and r["year"] >= 2024 for r in narrow["retrieved"])
    wide = json.loads(run_rag(*base, "--include-undated", "--top-k", "20", check=True).stdout)
    note = next(w for w in wide["notes"] if w.startswith("filtered by since 2024 or undated"))
    assert "left out" not in note
    assert any(r["year"] is None for r in wide["retrieved"])


def test_ask_plain_streams_answer_and_sources(library_store):
    out = run_rag(
        "ask",
        "--store",
        str(library_store),
        "How does sharpness-aware minimization find flat minima?",
        check=True,
    )
    assert "[1]" in out.stdout or "[2]" in out.stdout
    assert "support" in out.stdout


def test_unanswerable_question_is_refused_with_the_constant(library_store):
    from rag.answer.prompts import CANNOT_ANSWER

    out = run_rag(
        "ask",
        "--json",
        "--store",
        str(library_store),
        "What word error rate does Whisper large-v3 reach on LibriSpeech?",
        check=True,
    )
    answer = json.loads(out.stdout)
    assert answer["refused"] and answer["answer"].startswith(CANNOT_ANSWER)
    assert answer["citations"] == [] and answer["retrieved"]


def test_a_figure_of_a_named_model_no_abstract_gives_is_said_not_quoted(library_store):
    """Another paper's parameter counts are about other models: the answer says the
    named model's paper does not give one, and quotes nothing."""
    out = run_rag(
        "ask", "--store", str(library_store), "How many parameters does GPT-5 have?", check=True
    )
    answer, sources = out.stdout.split("\n\n", 1)
    assert "The abstract of [1] does not give the number of parameters" in answer
    assert "GPT-5 System Card" in sources
    assert "\u201c" not in sources and "[2]" not in out.stdout  # no empty quote, no other paper


def test_empty_question_is_a_clear_error(library_store):
    result = run_rag("ask", "--store", str(library_store), "   ")
    assert result.returncode != 0
    assert "question is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_on_empty_store_says_to_ingest(tmp_path):
    result = run_rag("ask", "--store", str(tmp_path / "empty"), "what is grokking?")
    assert result.returncode != 0
    assert "rag ingest" in result.stderr and "Traceback" not in result.stderr


def test_bad_files_are_named_and_the_rest_still_ingested(library_copy, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    unknown = tmp_path / "notes.txt"
    unknown.write_text("just some notes\nnothing like a paper listing\n")
    good = tmp_path / "new.jsonl"
    good.write_text(
        json.dumps(
            {
                "title": "A Brand New Paper About Sparse Probing",
                "abstract": "We probe sparse features. It works well.",
            }
        )
        + "\n"
    )
    missing = tmp_path / "missing.txt"
    result = run_rag(
        "ingest",
        "--store",
        str(library_copy),
        str(missing),
        str(empty),
        str(binary),
        str(unknown),
        str(good),
    )
    assert result.returncode != 0
    err = result.stderr
    assert "missing.txt" in err and "empty.txt" in err and "blob.bin" in err and "notes.txt" in err
    assert "Traceback" not in err
    papers = json.loads(
        run_rag("papers", "--json", "--store", str(library_copy), check=True).stdout
    )
    assert len(papers) == 438  # nothing lost, the good file added
    assert "A Brand New Paper About Sparse Probing" in {p["title"] for p in papers}


def test_reingest_is_idempotent(library_copy):
    out = run_rag("ingest", "--store", str(library_copy), check=True)
    assert "0 added, 0 updated, 437 unchanged" in out.stdout
