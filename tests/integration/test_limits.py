"""Bad input gets one clear line, never a traceback: questions and filters through the
real CLI, uploads through ui.uploads' public functions.

| input                                   | exit | message                                       |
|-----------------------------------------|------|-----------------------------------------------|
| rag ask ""                              | 1    | the question is empty ...                     |
| a 10,000-character question             | 1    | ... 10,000 characters long; the limit is ...  |
| "the of and?" (stop words only)         | 1    | ... only common words ...                     |
| "?!... ---" (punctuation only)          | 1    | ... no words to search for ...                |
| --author "Nobody Atall"                 | 1    | no paper in the library lists the author ...  |
| --since 2024 --until 2020               | 1    | year range 2024-2020 is inverted ...          |
| --top-k 0                               | 2    | click's usage error for the option            |
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_rag

from rag.config import Config

PAPERS = [
    ("Certified Training with Small Boxes", "We train certified defenses with small boxes.",
     ["Mark Müller", "Martin Vechev"], 2023),
    ("Interval Bound Propagation Explained", "Interval bound propagation gives certified "
     "robustness.", ["Yuhao Mao", "Martin Vechev"], 2024),
    ("Sparse Rate Reduction Transformers", "We derive transformers from sparse rate reduction.",
     ["Yaodong Yu", "Yi Ma"], 2023),
]  # fmt: skip


@pytest.fixture(scope="module")
def small_store(tmp_path_factory, embedder) -> Path:
    from rag.engine import Engine

    folder = tmp_path_factory.mktemp("limits")
    source = folder / "papers.jsonl"
    with source.open("w") as f:
        for title, abstract, authors, year in PAPERS:
            record = {"title": title, "abstract": abstract, "authors": authors, "year": year}
            f.write(json.dumps(record) + "\n")
    store = folder / "store"
    Engine(Config.from_env({}, store=store), embedder=embedder).ingest([source])
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return store


def error_lines(stderr: str) -> list[str]:
    """stderr without the model loader's progress bar (printed on every start)."""
    lines = [line.split("\r")[-1] for line in stderr.splitlines()]
    return [line for line in lines if line.strip() and "Loading weights" not in line]


CASES = {
    "empty question": (["ask", ""], 1, "the question is empty: ask something about the papers"),
    "10,000-character question": (
        ["ask", "robust " * 1428 + "net?"],
        1,
        "the question is 10,000 characters long; the limit is 2,000 (RAG_MAX_QUESTION_CHARS): shorten it",
    ),
    "stop words only": (["ask", "the of and?"], 1, "the question has only common words"),
    "punctuation only": (["ask", "?!... --- ¿¡"], 1, "the question has no words to search for"),
    "unknown author": (
        ["ask", "What do they train?", "--author", "Nobody Atall"],
        1,
        "no paper in the library lists the author 'Nobody Atall': check the spelling",
    ),
    "inverted year range": (
        ["ask", "certified training", "--since", "2024", "--until", "2020"],
        1,
        "year range 2024-2020 is inverted",
    ),
    "years with no paper": (
        ["ask", "certified training", "--since", "1990", "--until", "1995"],
        1,
        "no paper in the library matches the filters (years 1990-1995): widen or remove them",
    ),
    "top-k zero": (["ask", "certified training", "--top-k", "0"], 2, "Invalid value for '--top-k'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_question_gets_one_clear_line(case, small_store):
    args, code, message = CASES[case]
    result = run_rag(*args, "--store", str(small_store))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == code, result.stdout + result.stderr
    lines = error_lines(result.stderr)
    if code == 2:  # click's own usage errors: usage line, hint, then the error
        assert lines[-1].startswith("Error: ") and message in lines[-1], result.stderr
        return
    assert lines == [f"Error: {lines[0][7:]}"] and message in lines[0], result.stderr
    assert not result.stdout.strip(), "printed an answer as well"


def test_a_question_at_the_limit_is_answered(small_store):
    question = ("certified training with small boxes " * 60)[:2000]
    result = run_rag("ask", question, "--store", str(small_store))
    assert result.returncode == 0, result.stderr
    assert "[1]" in result.stdout


# ------------------------------------------------------------------ uploads


@pytest.fixture
def upload(tmp_path):
    """An upload folder (standing in for Gradio's) and the stage() call the UI makes."""
    from ui import uploads

    incoming = tmp_path / "gradio"
    incoming.mkdir()
    limits = uploads.Limits(max_bytes=1000, max_files=3)

    def stage(files: dict[str, bytes], outside: Path | None = None) -> dict[str, str | None]:
        paths = []
        for name, content in files.items():
            path = incoming / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            paths.append(path)
        if outside is not None:
            paths.append(outside)
        staged = uploads.stage(paths, tmp_path / "uploads", limits, [incoming])
        for item in staged:
            if item.path is not None:  # a copy inside the app's own upload folder
                assert item.path.resolve().is_relative_to((tmp_path / "uploads").resolve())
        return {item.name: item.error for item in staged}

    return stage


GOOD = b"title,abstract\nT,An abstract.\n"


def test_upload_limits_each_file_gets_its_reason(upload):
    results = upload(
        {
            "good.csv": GOOD,
            "big.csv": b"title,abstract\n" + b"x" * 2000,
            "photo.png": b"\x89PNG\r\n",
            "fourth.csv": GOOD,
        }
    )
    assert results["good.csv"] is None
    assert results["big.csv"] == (
        "file is 0.0 MB; the limit is 1,000 bytes per file (RAG_MAX_UPLOAD_MB): split it"
    )
    assert results["photo.png"].startswith("unsupported file type .png: upload one of .txt")
    assert results["fourth.csv"] == (
        "over the limit of 3 files per upload (RAG_MAX_UPLOAD_FILES): upload it separately"
    )
    assert all(reason is None or "\n" not in reason for reason in results.values())


def test_upload_rejects_empty_and_binary_files(upload):
    results = upload({"empty.bib": b"", "binary.txt": b"\x00\x01\x02" * 50, "ok.csv": GOOD})
    assert results == {
        "empty.bib": "file is empty",
        "binary.txt": "binary file, not text",
        "ok.csv": None,
    }


def test_upload_names_and_paths_cannot_escape(upload, tmp_path):
    """A crafted name stays inside the upload folder; a server path is never read."""
    secret = tmp_path / "server_secret.csv"
    secret.write_bytes(GOOD)
    results = upload({"..\\..\\etc_passwd.csv": GOOD, "..hidden.csv": GOOD}, outside=secret)
    assert results == {
        "etc_passwd.csv": None,
        "hidden.csv": None,
        "server_secret.csv": "not an uploaded file",
    }
