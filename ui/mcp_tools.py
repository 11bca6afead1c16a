"""The library as MCP tools for LLM clients (desktop chat clients, IDE agents), served
by Gradio's MCP server at /gradio_api/mcp when `rag serve --mcp` is on.

    with gr.Blocks() as demo:
        ...
        register(engine)          # search_papers, ask_library, get_paper; nothing else
    demo.launch(mcp_server=True, app_kwargs=login_guard(credentials))

Gradio turns every public endpoint into a tool, named after its function and
described by its docstring. `register` adds the three tools and makes the UI's own
endpoints undocumented: still callable by gradio_client, no longer tools. The tools
skip the queue: Gradio then runs a call directly, not through its HTTP loopback to the
queue, which costs time and would need a browser's login cookie. RAG_CONCURRENCY does
not cap them; they only read the engine's snapshot.

Each tool returns one JSON text. Bad input (a RagError: an empty or overlong query,
a filter matching nothing, an unknown paper id) is `{"error": "..."}` with the
library's one-line message, marked as an error result; arguments of the wrong
type or missing are refused by the MCP server against the tool's schema.

Gradio's login does not cover the MCP routes (a Starlette app mounted beside its
own), so with RAG_UI_AUTH set `login_guard` refuses them without the login: HTTP
Basic credentials (what MCP clients can send) or a logged-in browser's cookie.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from typing import Any

import gradio as gr
from gradio.context import get_blocks_context
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.engine import Engine, Retrieval
from rag.errors import InputError, RagError
from rag.export import bibtex_entries
from rag.types import Filters

TOOLS = ("search_papers", "ask_library", "get_paper")
MAX_RESULTS = 50  # as `rag ask --top-k`
SENTENCES_PER_PAPER = 2  # best-matching abstract sentences returned per paper
SHOWN_ID_CHARS = 60  # of an unknown paper id, repeated in the error
MCP_PATH = re.compile(r"(?:^|/)gradio_api/mcp(?:/|$)")


def register(engine: Engine) -> None:
    """Add the three tools to the Blocks being built, and hide its other endpoints from
    MCP. Call it last inside `with gr.Blocks()`, after every event is wired."""
    for fn in tools(engine):
        gr.api(fn, api_name=fn.__name__, queue=False)
    blocks = get_blocks_context()
    assert blocks is not None, "register() belongs inside `with gr.Blocks()`"
    for block_fn in blocks.fns.values():
        if block_fn.api_name not in TOOLS and block_fn.api_visibility == "public":
            block_fn.api_visibility = "undocumented"


def tools(engine: Engine) -> list:
    """The tool functions over one engine; Gradio reads their hints and docstrings."""

    def search_papers(
        query: str, author: str = "", since: int = 0, until: int = 0, category: str = "",
        k: int = 5, include_undated: bool = False,
    ) -> str:  # fmt: skip
        """Search the paper library (abstracts) by topic. Returns the best-matching papers, best first, each with its paper id, title, authors, year, link and the sentences of its abstract that best match the query. When you use a paper, cite it by its paper id and quote its matching sentence word for word; do not state more than the sentences say. Call get_paper for a paper's full abstract and BibTeX.

        Args:
            query: what to look for, in words (a topic, method or claim); filters may also be written in it, e.g. "diffusion papers since 2023".
            author: only papers by this author (any spelling: "Yaodong Yu", "Yu, Yaodong"); empty for any.
            since: only papers from this year on; 0 for no limit.
            until: only papers up to this year; 0 for no limit.
            category: only papers in this category, e.g. "cs.LG"; empty for any.
            k: how many papers to return, 1 to 50 (a query that is only filters lists up to 50).
            include_undated: true to let papers with no year through since/until (the notes say how many a year filter left out).

        Returns:
            JSON: {"query", "papers": [{"paper_id", "title", "authors", "year", "category", "link", "score", "sentences": [{"text", "score"}]}], "notes"}, or {"error"}.
        """
        return _run(
            lambda: _search(engine, query, author, since, until, category, k, include_undated)
        )

    def ask_library(
        question: str, author: str = "", since: int = 0, until: int = 0, category: str = "",
        include_undated: bool = False,
    ) -> str:  # fmt: skip
        """Answer a question from the paper library. Every claim in the answer ends with a [n] marker; citations[n] gives that paper's paper id, title, the abstract sentence that supports the claim and a support score (0-1; below 0.45 is weak). When you pass the answer on, cite each paper by its paper id and quote its supporting sentence; if "refused" is true the library does not answer the question: say so rather than answering from memory.

        Args:
            question: the question, in words; filters may also be written in it, e.g. "what has Sam Buchanan published since 2023?".
            author: only papers by this author; empty for any.
            since: only papers from this year on; 0 for no limit.
            until: only papers up to this year; 0 for no limit.
            category: only papers in this category, e.g. "cs.LG"; empty for any.
            include_undated: true to let papers with no year through since/until.

        Returns:
            JSON: {"question", "answer", "refused", "citations": [{"n", "paper_id", "title", "authors", "year", "snippet", "support", "link"}], "retrieved", "warnings", "notes", "backend", "latency_s", "evidence"} (snippet: the supporting sentence), or {"error"}.
        """
        return _run(lambda: _ask(engine, question, author, since, until, category, include_undated))

    def get_paper(paper_id: str) -> str:
        """The full record of one paper in the library: title, abstract, authors, year, category, venue, identifiers, link, and a BibTeX entry for it. Cite the paper by its paper id, and quote its abstract word for word.

        Args:
            paper_id: the paper's id, as search_papers or ask_library return it (e.g. "p_1a2b3c4d5e6f").

        Returns:
            JSON: the paper's fields with "bibtex", or {"error"}.
        """
        return _run(lambda: _paper(engine, paper_id))

    return [search_papers, ask_library, get_paper]


# ------------------------------------------------------------------ the tools' work
def _search(engine: Engine, query: Any, author: Any, since: Any, until: Any, category: Any,
            k: Any, include_undated: Any = False) -> dict[str, Any]:  # fmt: skip
    k = _whole("k", k, 1, MAX_RESULTS)
    filters = _filters(author, since, until, category, include_undated)
    retrieval: Retrieval = engine.retrieve(_text("query", query), top_k=k, filters=filters)
    # The answerer's sentence model (cosine, rhetorical role, what is asked for) picks
    # each paper's sentences, as it does for the answers' citations.
    ranked = engine.extractive_answerer().best_sentences(retrieval.plan, retrieval.hits)
    papers = []
    for hit, scored in zip(retrieval.hits, ranked, strict=True):
        p = hit.paper
        papers.append(
            {
                "paper_id": p.paper_id,
                "title": p.title,
                "authors": list(p.authors),
                "year": p.year,
                "category": p.category,
                "link": p.link,
                "score": round(hit.score, 4),
                "sentences": [
                    {"text": s.sentence, "score": round(s.score, 3)}
                    for s in scored[:SENTENCES_PER_PAPER]
                ],
            }
        )
    return {"query": retrieval.query, "papers": papers, "notes": retrieval.notes}


def _ask(engine: Engine, question: Any, author: Any, since: Any, until: Any,
         category: Any, include_undated: Any = False) -> dict[str, Any]:  # fmt: skip
    filters = _filters(author, since, until, category, include_undated)
    return engine.ask(_text("question", question), filters=filters).to_json()


def _paper(engine: Engine, paper_id: Any) -> dict[str, Any]:
    wanted = _text("paper_id", paper_id).strip()
    paper = engine.paper(wanted)
    if paper is None:
        shown = wanted[:SHOWN_ID_CHARS] + ("..." if len(wanted) > SHOWN_ID_CHARS else "")
        raise InputError(f"unknown paper id {shown!r}; use search_papers to find ids")
    return paper.to_dict() | {"bibtex": bibtex_entries([paper])[0]}


def _run(work) -> str:
    """The tool's JSON text; a RagError becomes an error result with its message."""
    try:
        return json.dumps(work(), ensure_ascii=False)
    except RagError as exc:
        # Raised, Gradio's MCP server marks the result as an error (isError) and
        # sends the exception's text: the JSON object, never a traceback.
        raise ToolError(json.dumps({"error": str(exc)}, ensure_ascii=False)) from None


class ToolError(Exception):
    """A tool's error result; str() is the JSON object the client sees."""


# ------------------------------------------------------------------ arguments
def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _whole(name: str, value: Any, low: int, high: int) -> int:
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not (whole or isinstance(value, float) and value.is_integer()):
        raise InputError(f"{name} must be a whole number, got {str(value)[:40]!r}")
    if not low <= value <= high:
        raise InputError(f"{name} must be from {low} to {high}, got {int(value)}")
    return int(value)


def _filters(
    author: Any, since: Any, until: Any, category: Any, include_undated: Any = False
) -> Filters:
    """The tools' filter arguments as Filters: empty text and 0 mean no filter."""
    if not isinstance(include_undated, bool):
        raise InputError(
            f"include_undated must be true or false, got {str(include_undated)[:40]!r}"
        )
    author = _text("author", author).strip()
    category = _text("category", category).strip()
    first = _whole("since", since, 0, 9999)
    last = _whole("until", until, 0, 9999)
    return Filters(
        authors=(author,) if author else (),
        since=first or None,
        until=last or None,
        categories=(category,) if category else (),
        include_undated=include_undated,
    )


# ------------------------------------------------------------------ login
def login_guard(credentials: list[tuple[str, str]] | None) -> dict[str, Any]:
    """launch(app_kwargs=...) that put the MCP routes behind the UI's login (none when
    the login is off)."""
    if not credentials:
        return {}
    return {"middleware": [Middleware(McpLogin, credentials=credentials)]}


class McpLogin:
    """ASGI middleware: /gradio_api/mcp/... only with the UI's login, as HTTP Basic
    credentials or the cookie of a browser that logged in to the app."""

    def __init__(self, app: ASGIApp, credentials: list[tuple[str, str]]) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and MCP_PATH.search(re.sub("/+", "/", scope["path"])):
            connection = HTTPConnection(scope)
            if not (self._basic(connection) or self._session(connection)):
                refusal = JSONResponse(
                    {"error": "log in: send the UI login (RAG_UI_AUTH) as HTTP Basic auth"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="Paper QA MCP"'},
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _basic(self, connection: HTTPConnection) -> bool:
        scheme, _, encoded = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Every pair is compared, in constant time, whichever matches.
        matches = [
            hmac.compare_digest(user.encode(), u.encode())
            & hmac.compare_digest(password.encode(), p.encode())
            for u, p in self.credentials
        ]
        return bool(sep) and any(matches)

    @staticmethod
    def _session(connection: HTTPConnection) -> bool:
        """A Gradio login cookie (the app's own check, as its /login_check does)."""
        app = connection.scope.get("app")
        tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
        if not tokens or cookie_id is None:
            return False
        cookies = connection.cookies
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(
            f"access-token-unsecure-{cookie_id}"
        )
        return token is not None and tokens.get(token) is not None
