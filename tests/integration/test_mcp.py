"""`rag serve --mcp`: the real app served on 127.0.0.1 with Gradio's MCP server, driven
by the real `mcp` client over streamable HTTP, as a desktop client or IDE agent would."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from conftest import run_rag
from gradio_client import Client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from ui_server import launch

from rag.export import bibtex_escape, bibtex_key

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
TOOLS = {"search_papers", "ask_library", "get_paper"}
UAP_QUERY = "universal adversarial perturbations crafted without training data"
UAP_TITLE = "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations"
SAM_QUESTION = "What does sharpness-aware minimization minimize?"
LOGIN = ("reader", "s3cret:pass")


@pytest.fixture(scope="module")
def server(engine):
    demo, url = launch(engine, engine.config, mcp=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def guarded(engine):
    demo, url = launch(engine, engine.config.replace(ui_auth=":".join(LOGIN)), mcp=True)
    yield url
    demo.close()


def mcp(url: str, work, auth: httpx.Auth | None = None) -> Any:
    """Run `work(session)` in a fresh MCP client session on the app at url."""

    async def main():
        async with httpx.AsyncClient(auth=auth, timeout=300) as http:
            async with streamable_http_client(url + "gradio_api/mcp", http_client=http) as (
                read,
                write,
                _,
            ):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await work(session)

    return asyncio.run(main())


def call(url: str, tool: str, auth: httpx.Auth | None = None, **arguments: Any):
    """(isError, the tool's text) for one call; a tool's answer is one JSON text."""
    result = mcp(url, lambda s: s.call_tool(tool, arguments), auth)
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.isError, result.content[0].text


def ok(url: str, tool: str, **arguments: Any) -> dict:
    failed, text = call(url, tool, **arguments)
    assert not failed, text
    return json.loads(text)


def error(url: str, tool: str, **arguments: Any) -> str:
    """The one-line error a bad call gets: an error result, never a traceback."""
    failed, text = call(url, tool, **arguments)
    assert failed, text
    assert "Traceback" not in text and "File " not in text
    if text.startswith("{"):
        (message,) = json.loads(text).values()
        return message
    return text  # refused by the MCP server against the tool's input schema


def test_exactly_the_three_tools_with_citing_instructions(server):
    listed = mcp(server, lambda s: s.list_tools()).tools
    assert {t.name for t in listed} == TOOLS  # the UI's own endpoints are not tools
    tools = {t.name: t for t in listed}
    for tool in listed:
        assert "paper id" in tool.description and "quote" in tool.description
    search = tools["search_papers"].inputSchema
    assert search["required"] == ["query"]
    assert search["properties"]["k"] == {**search["properties"]["k"], "type": "integer"}
    assert search["properties"]["k"]["default"] == 5
    assert set(search["properties"]) == {
        "query",
        "author",
        "since",
        "until",
        "category",
        "k",
        "include_undated",
    }
    assert tools["get_paper"].inputSchema["required"] == ["paper_id"]
    schema = httpx.get(server + "gradio_api/mcp/schema", timeout=60).json()
    assert {t["name"] for t in schema} == TOOLS


def test_search_papers_returns_the_papers_on_the_topic_with_their_sentences(server, engine):
    found = ok(server, "search_papers", query=UAP_QUERY, k=3)
    papers = found["papers"]
    assert 1 <= len(papers) <= 3
    assert papers[0]["title"] == UAP_TITLE
    for paper in papers:
        record = engine.snapshot.catalog[paper["paper_id"]]
        assert paper["title"] == record.title and paper["year"] == record.year
        assert paper["authors"] == list(record.authors) and paper["link"] == record.link
        assert paper["sentences"], paper
        for sentence in paper["sentences"]:
            assert " ".join(sentence["text"].split()) in " ".join(record.abstract.split())
    top = papers[0]["sentences"][0]["text"].lower()
    assert any(word in top for word in ("perturbation", "data", "fool", "objective"))


def test_search_papers_applies_the_filters(server, engine):
    found = ok(server, "search_papers", query="deep networks", author="Yaodong Yu", since=2023)
    assert found["papers"] and found["notes"]
    for paper in found["papers"]:
        assert "Yaodong Yu" in paper["authors"] and paper["year"] >= 2023
    unfiltered = ok(server, "search_papers", query="deep networks", k=10)
    assert any("Yaodong Yu" not in p["authors"] for p in unfiltered["papers"])


def test_a_year_filter_notes_the_undated_papers_and_can_include_them(server):
    narrow = ok(server, "search_papers", query="diffusion models", since=2024, k=20)
    assert all(p["year"] >= 2024 for p in narrow["papers"])
    assert "papers without a year left out" in " ".join(narrow["notes"])
    wide = ok(
        server, "search_papers", query="diffusion models", since=2024, k=20, include_undated=True
    )
    assert any(p["year"] is None for p in wide["papers"])


def test_ask_library_gives_a_cited_answer(server, engine):
    answer = ok(server, "ask_library", question=SAM_QUESTION)
    assert answer["refused"] is False and answer["backend"] == "extractive"
    assert answer["citations"] and "[1]" in answer["answer"]
    for citation in answer["citations"]:
        record = engine.snapshot.catalog[citation["paper_id"]]
        assert citation["title"] == record.title
        assert " ".join(citation["snippet"].split()) in " ".join(record.text.split())
        assert citation["support"] is None or 0 <= citation["support"] <= 1
        assert f"[{citation['n']}]" in answer["answer"]
    assert "sharpness" in answer["citations"][0]["title"].lower() + answer["answer"].lower()


def test_ask_library_refuses_what_the_library_does_not_say(server):
    answer = ok(server, "ask_library", question="What is the boiling point of tungsten?")
    assert answer["refused"] is True and not answer["citations"]
    assert isinstance(answer["warnings"], list)


def test_get_paper_returns_the_record_and_its_bibtex(server, engine):
    paper_id = ok(server, "search_papers", query=UAP_QUERY, k=1)["papers"][0]["paper_id"]
    paper = ok(server, "get_paper", paper_id=f"  {paper_id} ")
    record = engine.snapshot.catalog[paper_id]
    assert paper["paper_id"] == paper_id and paper["title"] == UAP_TITLE
    assert paper["abstract"] == record.abstract
    assert paper["bibtex"].startswith(f"@misc{{{bibtex_key(record)},")
    assert bibtex_escape(record.title) in paper["bibtex"]


@pytest.mark.parametrize(
    "tool, arguments, message",
    [
        ("get_paper", {"paper_id": "p_000000000000"}, "unknown paper id 'p_000000000000'"),
        ("get_paper", {"paper_id": "x" * 10_000}, "use search_papers to find ids"),
        ("search_papers", {"query": "adversarial " * 1000}, "the limit is 2,000"),
        ("ask_library", {"question": "a" * 10_000}, "the limit is 2,000"),
        ("search_papers", {"query": "   "}, "the question is empty"),
        ("search_papers", {"query": "robustness", "since": 2100}, "no paper in the library"),
        ("ask_library", {"question": "robustness", "category": "zz.NONE"}, "no paper"),
        ("search_papers", {"query": "robustness", "author": "Nobody Atall"}, "Nobody Atall"),
        ("search_papers", {"query": "robustness", "since": 2024, "until": 2020}, "inverted"),
        ("search_papers", {"query": "robustness", "k": 0}, "k must be from 1 to 50"),
        ("search_papers", {"query": "robustness", "since": -5}, "since must be from 0"),
        ("search_papers", {"query": "robustness", "k": "many"}, "'many' is not of type"),
        ("search_papers", {"k": 3}, "'query' is a required property"),
        ("ask_library", {}, "'question' is a required property"),
        ("get_paper", {"paper_id": 42}, "42 is not of type 'string'"),
        ("search_papers", {"query": "x", "include_undated": "yes"}, "is not of type 'boolean'"),
    ],
)
def test_bad_input_is_a_one_line_error(server, tool, arguments, message):
    text = error(server, tool, **arguments)
    assert message in text and "\n" not in text
    assert len(text) < 300  # an overlong id or query is not echoed back whole


def test_the_ui_endpoints_still_answer_gradio_client(server):
    papers = Client(server, verbose=False).predict(api_name="/papers")
    assert UAP_TITLE in {p["title"] for p in papers}


def test_mcp_refused_without_the_login(guarded):
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    for path in (
        "gradio_api/mcp",
        "gradio_api/mcp/",
        "gradio_api//mcp/schema",
        "gradio_api/mcp/sse",
    ):
        refused = httpx.post(guarded + path, json=initialize, headers=headers, timeout=60)
        assert refused.status_code == 401, path
        assert "log in" in refused.json()["error"]
    schema = httpx.get(guarded + "gradio_api/mcp/schema", timeout=60)
    assert schema.status_code == 401
    wrong = httpx.get(guarded + "gradio_api/mcp/schema", auth=(LOGIN[0], "wrong"), timeout=60)
    assert wrong.status_code == 401
    for auth in (None, httpx.BasicAuth(LOGIN[0], "wrong")):
        with pytest.raises(ExceptionGroup) as refusal:  # the client's task group
            mcp(guarded, lambda s: s.list_tools(), auth=auth)
        assert refusal.group_contains(httpx.HTTPStatusError, match="401 Unauthorized")


def test_mcp_works_with_the_login(guarded):
    login = httpx.BasicAuth(*LOGIN)
    tools = mcp(guarded, lambda s: s.list_tools(), auth=login).tools
    assert {t.name for t in tools} == TOOLS
    failed, text = call(guarded, "search_papers", auth=login, query=UAP_QUERY, k=1)
    assert not failed and json.loads(text)["papers"][0]["title"] == UAP_TITLE
    # A browser that logged in to the app may open the MCP pages with its cookie.
    with httpx.Client(base_url=guarded, timeout=60) as browser:
        assert browser.get("gradio_api/mcp/schema").status_code == 401
        browser.post("login", data={"username": LOGIN[0], "password": LOGIN[1]})
        assert {t["name"] for t in browser.get("gradio_api/mcp/schema").json()} == TOOLS


def test_serve_has_the_mcp_flag():
    result = run_rag("serve", "--help", check=True, timeout=120)
    assert "--mcp" in result.stdout and "/gradio_api/mcp" in result.stdout
