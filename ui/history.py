"""Past conversations, kept in the browser so that a reload never loses the chat.

Gradio's BrowserState holds them in the page's localStorage, encrypted with a key
the server makes at start: nothing leaves the machine, and a restarted server
starts a fresh list (it cannot read the old one). What is stored is each chat's
answers in the `rag ask --json` shape; papers are stored by id and read back from
the library, so a restored answer shows its cards as they were. A paper removed
from the library since keeps its title and cited sentence.

    >>> chats = remember([], chat("c1", [{"question": "What is grokking?"}], now=100))
    >>> choices(chats)
    [('What is grokking?', 'c1')]
    >>> remember(chats, chat("c1", [], now=200)), forget(chats, "c1")
    ([], [])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rag.types import Answer, Citation, Hit, Paper

MAX_CHATS = 30  # the oldest are dropped past this (localStorage holds a few MB)
TITLE_CHARS = 60  # of the first question, as the chat's name in the list


def chat(chat_id: str, answers: Sequence[dict[str, Any]], now: float | None = None) -> dict:
    """One stored chat: its id, its name (the first question), when it last changed,
    and its answers (Answer.to_json)."""
    first = answers[0]["question"] if answers else ""
    title = first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"
    return {
        "id": chat_id,
        "title": title,
        "updated": time.time() if now is None else now,
        "answers": list(answers),
    }


def remember(chats: Sequence[dict] | None, saved: dict) -> list[dict]:
    """The list with `saved` first (replacing its older copy); a chat with no answers
    is not kept."""
    rest = [c for c in (chats or []) if isinstance(c, dict) and c.get("id") != saved["id"]]
    return ([saved] if saved["answers"] else []) + rest[: MAX_CHATS - 1]


def forget(chats: Sequence[dict] | None, chat_id: str | None) -> list[dict]:
    return [c for c in (chats or []) if isinstance(c, dict) and c.get("id") != chat_id]


def find(chats: Sequence[dict] | None, chat_id: str | None) -> dict | None:
    return next((c for c in chats or [] if isinstance(c, dict) and c.get("id") == chat_id), None)


def choices(chats: Sequence[dict] | None) -> list[tuple[str, str]]:
    """(label, id) for the list of past chats, newest first."""
    return [(c.get("title") or "(untitled)", c["id"]) for c in chats or [] if isinstance(c, dict)]


def answer_from_json(data: dict[str, Any], paper: Callable[[str], Paper | None]) -> Answer:
    """An Answer back from its JSON (Answer.to_json), its papers read from the library
    by id, or rebuilt from the stored title when the library no longer has them."""

    def lookup(entry: dict[str, Any]) -> Paper:
        found = paper(entry["paper_id"])
        if found is not None:
            return found
        return Paper(
            paper_id=entry["paper_id"],
            title=entry.get("title", ""),
            abstract=entry.get("snippet", ""),
            authors=tuple(entry.get("authors") or ()),
            year=entry.get("year"),
        )

    hits = tuple(
        Hit(paper=(p := lookup(h)), score=float(h.get("score", 0.0)), text=p.text)
        for h in data.get("retrieved", [])
    )
    citations = tuple(
        Citation(int(c["n"]), lookup(c), c.get("snippet", ""), c.get("support"))
        for c in data.get("citations", [])
    )
    return Answer(
        question=data.get("question", ""),
        text=data.get("answer", ""),
        refused=bool(data.get("refused")),
        citations=citations,
        hits=hits,
        backend=data.get("backend", ""),
        latency_s=float(data.get("latency_s", 0.0)),
        warnings=tuple(data.get("warnings", ())),
        notes=tuple(data.get("notes", ())),
        evidence=dict(data.get("evidence") or {}),
    )
