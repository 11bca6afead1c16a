"""The Gradio app over a real engine, served on 127.0.0.1 and driven through its
named API endpoints with gradio_client, as a script or another service would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, AuthenticationError
from ui_server import launch

from rag.config import Config
from rag.engine import Engine
from rag.errors import ConfigError
from ui import auth, uploads

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
UAP_QUESTION = "Which method crafts universal adversarial perturbations without any training data?"
UAP_TITLE = "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations"
MAX_UPLOAD_MB = 0.004  # ~4 KB per file, so an over-limit file is cheap to make
NEW_BIB = """@article{zeta2023quantum,
  title = {Quantum Gravel Sorting with Transformer Sieves},
  author = {Zeta, Alice and Omega, Bob},
  year = {2023},
  journal = {Journal of Unlikely Results},
  abstract = {We introduce transformer sieves, a method for sorting quantum gravel by grain
    size. Transformer sieves reach 97.3% sorting accuracy on the GravelBench benchmark.}
}
"""
SETTINGS = {
    "backend": "extractive",
    "top_k": 5,
    "authors": "",
    "since": "any",
    "until": "any",
    "categories": [],
    "include_undated": False,
}


@pytest.fixture(scope="module")
def served(library_store, embedder, tmp_path_factory):
    root = tmp_path_factory.mktemp("ui_api")
    store = root / "store"
    shutil.copytree(library_store, store)
    config = Config.from_env({}, store=store, max_upload_mb=MAX_UPLOAD_MB, max_upload_files=6)
    engine = Engine(config, embedder=embedder)
    demo, url = launch(engine, config)
    yield engine, config, url
    demo.close()


@pytest.fixture
def client(served):
    return Client(served[2], verbose=False)


def ask(client: Client, question: str, show_uncited: bool = False, **settings):
    job = client.submit(question, *(SETTINGS | settings).values(), show_uncited, api_name="/ask")
    final = job.result(timeout=600)
    return final, job.outputs()


def titles(client: Client) -> set[str]:
    return {p["title"] for p in client.predict(api_name="/papers")}


def test_ask_streams_an_answer_with_linked_citations(client):
    (box, chat, sources, answer, export), outputs = ask(client, UAP_QUESTION)
    assert len(outputs) > 3  # the answer arrived in pieces
    partial = [o[1][-1]["content"][0]["text"] for o in outputs[:-1] if len(o[1]) > 1]
    assert partial and len(partial[0]) < len(partial[-1])
    assert outputs[0][0] == "" and outputs[0][1][0]["role"] == "user"  # taken at once

    assert [c["title"] for c in answer["citations"]][0] == UAP_TITLE
    assert answer["refused"] is False and answer["backend"] == "extractive"
    shown = chat[1]["content"][0]["text"]  # the answer message, markers linked
    prefix = shown.split("](#src-")[1].split("-")[0]
    assert f"[[1]](#src-{prefix}-1-1)" in shown  # card [1], the sentence of this claim
    assert f'id="src-{prefix}-1"' in sources and UAP_TITLE in sources
    assert "<mark>" in sources and "support" in sources
    assert "extractive" in chat[2]["content"][0]["text"]  # the notes under the answer

    markdown = Path(export).read_text(encoding="utf-8")
    assert markdown.startswith("# " + UAP_QUESTION)
    assert "## References" in markdown and UAP_TITLE in markdown
    assert "@misc{" in markdown or "@article{" in markdown


def test_follow_up_uses_the_session_history_and_new_chat_clears_it(client):
    ask(client, UAP_QUESTION)
    (_, chat, sources, answer, _), _ = ask(client, "What does it achieve on the fooling rate?")
    assert len(chat) == 6  # two questions, two answers, two notes
    assert UAP_TITLE in [c["title"] for c in answer["citations"]]
    assert sources.index("What does it achieve") < sources.index(UAP_QUESTION)  # newest first

    box, chat, sources, answer, export = client.predict(False, api_name="/new_chat")
    assert chat == [] and answer is None and export is None
    assert 'id="src-' not in sources


def test_a_too_long_question_adds_nothing_to_the_chat(client):
    question = "adversarial " * 500  # 6,000 characters; the limit is 2,000
    (box, chat, _, answer, export), _ = ask(client, question)
    assert chat == [] and answer is None and export is None
    assert box == question.strip()  # kept in the box, to be shortened


def test_retrieved_but_uncited_papers_are_shown_on_demand(client):
    (_, _, hidden, answer, _), _ = ask(client, UAP_QUESTION)
    assert "Also retrieved, not cited" not in hidden
    (_, _, shown, answer, _), _ = ask(client, UAP_QUESTION, show_uncited=True)
    cited = {c["title"] for c in answer["citations"]}
    uncited = [r["title"] for r in answer["retrieved"] if r["title"] not in cited]
    assert uncited and "Also retrieved, not cited" in shown
    assert all(title in shown for title in uncited)


def test_filters_from_the_settings_reach_the_engine(client):
    (_, chat, _, answer, _), _ = ask(client, UAP_QUESTION, since="2024", until="2020")
    assert answer is None
    assert "inverted" in chat[-1]["content"][0]["text"]


def test_a_year_filter_says_what_it_left_out_and_the_checkbox_lets_it_in(client):
    (_, chat, _, answer, _), _ = ask(client, "diffusion models", since="2024")
    note = next(w for w in answer["notes"] if w.startswith("filtered by"))
    assert "papers without a year left out" in note
    assert all(r["year"] and r["year"] >= 2024 for r in answer["retrieved"])
    assert "without a year left out" in chat[-1]["content"][0]["text"]  # shown under the answer
    (_, _, _, answer, _), _ = ask(
        client, "diffusion models", since="2024", include_undated=True, top_k=20
    )
    assert any(r["year"] is None for r in answer["retrieved"])
    assert not any("left out" in w for w in answer["notes"] + answer["warnings"])


def test_uploaded_file_is_ingested_and_the_count_grows(client, served, tmp_path):
    engine, config, _ = served
    before = engine.count()
    bib = tmp_path / "new papers.bib"
    bib.write_text(NEW_BIB, encoding="utf-8")
    summary, results, count, table, files = client.predict([handle_file(bib)], api_name="/ingest")
    assert engine.count() == before + 1
    assert f"**{before + 1:,} papers**" in count
    assert results["data"] == [["new_papers.bib", "added", "BibTeX (.bib)", 1, 1, 0, 0, ""]]
    assert "1 added" in summary and files is None
    assert "Quantum Gravel Sorting with Transformer Sieves" in titles(client)
    assert any(row[0] == "Quantum Gravel Sorting with Transformer Sieves" for row in table["data"])
    # the copy lives in its own directory under <store parent>/uploads, name sanitised
    copies = list(uploads.uploads_root(config).glob("*/new_papers.bib"))
    assert len(copies) == 1 and len(copies[0].parent.name) == 32


def test_bad_uploads_are_rejected_per_file_and_the_rest_proceed(client, served, tmp_path):
    engine, _, _ = served
    good = tmp_path / "good.bib"
    good.write_text(NEW_BIB.replace("Quantum Gravel", "Classical Pebble"), encoding="utf-8")
    binary = tmp_path / "binary.bib"
    binary.write_bytes(bytes(range(256)) * 4)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    pdf = tmp_path / "paper.pdf"
    pdf.write_text("%PDF-1.4 not really", encoding="utf-8")
    big = tmp_path / "big.bib"
    big.write_text(
        NEW_BIB.replace("Quantum Gravel", "Oversized Boulder") + "% padding\n" * 600,
        encoding="utf-8",
    )
    prose = tmp_path / "notes.txt"
    prose.write_text(
        "Just some notes about my week.\nNothing bibliographic here.\n", encoding="utf-8"
    )
    assert uploads.Limits.from_config(served[1]).max_bytes < big.stat().st_size

    before = engine.count()
    files = [handle_file(p) for p in (good, binary, empty, pdf, big, prose)]
    summary, results, count, _, _ = client.predict(files, api_name="/ingest")
    by_name = {row[0]: row for row in results["data"]}
    assert by_name["good.bib"][1] == "added"
    assert by_name["binary.bib"][1:2] == ["rejected"] and "binary" in by_name["binary.bib"][-1]
    assert by_name["empty.txt"][1] == "rejected" and "empty" in by_name["empty.txt"][-1]
    assert (
        by_name["paper.pdf"][1] == "rejected"
        and "unsupported file type .pdf" in by_name["paper.pdf"][-1]
    )
    assert (
        by_name["big.bib"][1] == "rejected" and "the limit is 4,194 bytes" in by_name["big.bib"][-1]
    )
    assert by_name["notes.txt"][1] == "rejected" and "unknown format" in by_name["notes.txt"][-1]
    assert "5 file(s) rejected" in summary
    assert engine.count() == before + 1
    assert "Oversized Boulder Sorting with Transformer Sieves" not in titles(client)


def test_too_many_files_in_one_upload(client, served, tmp_path):
    paths = []
    for i in range(7):  # the limit is 6 per upload
        path = tmp_path / f"many{i}.bib"
        path.write_text(NEW_BIB.replace("Quantum Gravel", f"Batch {i} Gravel"), encoding="utf-8")
        paths.append(path)
    _, results, _, _, _ = client.predict([handle_file(p) for p in paths], api_name="/ingest")
    status = {row[0]: (row[1], row[-1]) for row in results["data"]}
    assert status["many6.bib"][0] == "rejected" and "limit of 6 files" in status["many6.bib"][1]
    assert all(status[f"many{i}.bib"][0] == "added" for i in range(6))
    assert "Batch 6 Gravel Sorting with Transformer Sieves" not in titles(client)


def test_a_server_path_sent_instead_of_an_upload_is_never_read(served, tmp_path):
    engine, _, url = served
    secret = tmp_path / "secret.bib"
    secret.write_text(NEW_BIB.replace("Quantum Gravel", "Secret Server"), encoding="utf-8")
    before = engine.count()
    payload = {"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}]]}
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("/gradio_api/call/ingest", json=payload)
        if event.status_code == 200:
            stream = http.get(f"/gradio_api/call/ingest/{event.json()['event_id']}").text
            assert "event: complete" not in stream or "not an uploaded file" in stream
    assert engine.count() == before
    assert "Secret Server Sorting with Transformer Sieves" not in {p.title for p in engine.papers()}


def test_remove_endpoint(client, served, tmp_path):
    engine, _, _ = served
    bib = tmp_path / "doomed.bib"
    bib.write_text(NEW_BIB.replace("Quantum Gravel", "Doomed Gravel"), encoding="utf-8")
    client.predict([handle_file(bib)], api_name="/ingest")
    doomed = next(p for p in client.predict(api_name="/papers") if p["title"].startswith("Doomed"))
    before = engine.count()
    assert client.predict([doomed["paper_id"], "p_nonexistent"], api_name="/remove") == [
        doomed["paper_id"]
    ]
    assert engine.count() == before - 1


def test_an_ingest_does_not_break_a_query_in_flight(client, served, tmp_path):
    bib = tmp_path / "concurrent.bib"
    bib.write_text(NEW_BIB.replace("Quantum Gravel", "Concurrent Gravel"), encoding="utf-8")
    other = Client(served[2], verbose=False)
    asking = client.submit(UAP_QUESTION, *SETTINGS.values(), False, api_name="/ask")
    ingesting = other.submit([handle_file(bib)], api_name="/ingest")
    _, _, _, answer, _ = asking.result(timeout=600)
    _, results, _, _, _ = ingesting.result(timeout=600)
    assert answer["citations"][0]["title"] == UAP_TITLE
    assert results["data"][0][1] == "added"


def test_eval_runs_on_an_uploaded_question_file(client, tmp_path):
    source = Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines()[:3]
    questions = tmp_path / "three.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary, metrics, chart, latency, rows, files = client.predict(
        handle_file(questions), False, *SETTINGS.values(), api_name="/eval"
    )
    assert "3 questions" in summary
    assert metrics["headers"][:2] == ["metric", "overall"]
    assert metrics["data"][0][:2] == ["questions", "3"]
    assert any(row[0] == "hit@5" for row in metrics["data"])
    assert chart["type"] == "matplotlib" and chart["plot"]
    assert latency["type"] == "matplotlib" and latency["plot"] != chart["plot"]
    ids = [json.loads(line)["id"] for line in lines]
    assert [row[0] for row in rows["data"]] == ids
    assert all(row[2] in ("✓ pass", "✗ fail") for row in rows["data"])
    names = sorted(Path(f).name for f in files)
    assert names == ["report.md", "results.jsonl"]
    results = [
        json.loads(x)
        for x in Path(next(f for f in files if f.endswith(".jsonl"))).read_text().splitlines()
    ]
    assert [r["id"] for r in results] == ids


def test_eval_rejects_a_bad_question_file(client, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Why?"}\n', encoding="utf-8")
    with pytest.raises(AppError, match="missing field"):
        client.predict(handle_file(bad), False, *SETTINGS.values(), api_name="/eval")


def test_a_failing_llm_backend_falls_back_and_says_so(library_store, embedder, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(library_store, store)
    # Nothing listens on port 9 (discard): the OpenAI-compatible backend cannot connect.
    config = Config.from_env({}, store=store, llm_base_url="http://127.0.0.1:9/v1", llm_timeout=5.0)
    demo, url = launch(Engine(config, embedder=embedder), config)
    try:
        client = Client(url, verbose=False)
        (_, chat, _, answer, _), _ = ask(client, UAP_QUESTION, backend="openai")
    finally:
        demo.close()
    assert answer["backend"] == "extractive (fallback from openai)"
    assert answer["citations"][0]["title"] == UAP_TITLE
    notes = chat[-1]["content"][0]["text"]
    assert "answered by extractive (fallback from openai)" in notes
    assert "openai" in " ".join(answer["warnings"])


@pytest.fixture(scope="module")
def guarded(served):
    engine, config, _ = served
    demo, url = launch(engine, config.replace(ui_auth="alice:s3cret"))
    yield url
    demo.close()


def test_login_required_when_auth_is_on(guarded):
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(guarded, verbose=False)
    with httpx.Client(base_url=guarded, timeout=30) as http:
        assert http.get("/config").status_code == 401
        assert http.get("/gradio_api/info").status_code == 401
        refused = http.post("/gradio_api/call/papers", json={"data": []})
        assert refused.status_code == 401
    logged_in = Client(guarded, auth=("alice", "s3cret"), verbose=False)
    assert UAP_TITLE in {p["title"] for p in logged_in.predict(api_name="/papers")}
    with pytest.raises(ValueError, match="Could not login"):
        Client(guarded, auth=("alice", "wrong"), verbose=False)


def test_auth_settings_and_exposure_warning(tmp_path):
    assert auth.load_credentials(None) is None
    assert auth.load_credentials("bob:pa:ss") == [("bob", "pa:ss")]
    users = tmp_path / "users.txt"
    users.write_text("# team\nalice:one\n\nbob:two\n", encoding="utf-8")
    assert auth.load_credentials(str(users)) == [("alice", "one"), ("bob", "two")]
    with pytest.raises(ConfigError, match="neither user:password"):
        auth.load_credentials("no-colon-and-no-file")
    assert auth.exposure_warning("127.0.0.1", None) is None
    assert auth.exposure_warning("0.0.0.0", [("a", "b")]) is None
    assert "without a login" in auth.exposure_warning("0.0.0.0", None)


def test_upload_names_cannot_escape_the_upload_directory():
    for hostile in (
        "../../etc/passwd",
        "..\\..\\boot.ini",
        "/abs/path.bib",
        ".bashrc",
        "a/../../b.csv",
    ):
        name = uploads.sanitise_name(hostile)
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert ".." not in name
    assert uploads.sanitise_name("my list (1).txt") == "my_list_1_.txt"
    assert len(uploads.sanitise_name("x" * 500 + ".jsonl")) <= uploads.MAX_NAME_CHARS
    assert uploads.sanitise_name("x" * 500 + ".jsonl").endswith(".jsonl")
