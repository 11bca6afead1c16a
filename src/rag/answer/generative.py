"""The LLM answerer: the question and evidence from the retrieved papers go to a
chat model, whose reply (with [n] markers) streams back. Citations are checked
afterwards, by the engine, with `citations.check_citations`, as for every answerer.

The evidence is lean: per paper, the abstract sentences closest to the question
(`prompts.select_evidence`, from the stored sentence vectors), not whole abstracts.
A reply that is no answer (only markers, the prompt's own words, or citing none of
the sources) is caught by `failure`, and the engine answers extractively instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..llms.base import ChatModel
from ..types import Hit
from .citations import SentenceLookup, cited_numbers, is_refusal, strip_markers

if TYPE_CHECKING:
    from ..engine import Retrieval
    from .followup import FollowUp
from .prompts import CANNOT_ANSWER, SYSTEM_PROMPT, USER_TEMPLATE, build_messages, select_evidence

COPY_WORDS = 6  # a run of this many words of the instructions in a reply is a copy
_MARKERS = re.compile(r"\[\s*\d[\d,\s\-\u2013]*\]")


class GenerativeAnswerer:
    """Answerer over any ChatModel; its name is the model's, e.g. "openai:gpt-4o-mini".

    With `embed_one` and `sentences` (the engine passes both) the prompt carries
    excerpts; without them, whole abstracts."""

    def __init__(
        self,
        chat_model: ChatModel,
        embed_one: Callable[[str], np.ndarray] | None = None,
        sentences: SentenceLookup | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.name = chat_model.name
        self._embed_one = embed_one
        self._sentences = sentences
        self.messages: list[tuple[str, str]] = []  # the last prompt sent

    grounded = False  # a model's reply: checked before it is kept

    def respond(
        self, question: str, retrieval: Retrieval, turn: FollowUp | None = None
    ) -> Iterator[str]:
        """The Answerer interface: the (condensed) question over the hits."""
        return self.stream(question, retrieval.hits)

    def evidence(self) -> dict[str, Any]:
        return {}

    def prompt(self, question: str, hits: Sequence[Hit]) -> list[tuple[str, str]]:
        """The messages for a question about these hits."""
        if self._embed_one is None or self._sentences is None:
            return build_messages(question, hits)
        q = self._embed_one(question)
        lookup = self._sentences([h.paper.paper_id for h in hits])
        sentences, cosines = [], []
        for hit in hits:
            texts, vectors = lookup.get(hit.paper.paper_id, ([], None))
            if len(texts) < 2:  # nothing stored: the abstract as one piece
                sentences.append([hit.paper.abstract or hit.text])
                cosines.append([1.0])
                continue
            sentences.append(texts[1:])  # texts[0] is the title, shown apart
            cosines.append([float(v @ q) for v in vectors[1:]])
        return build_messages(question, hits, select_evidence(sentences, cosines))

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """Pieces of the model's answer; the refusal, without a model call, when
        there is nothing to answer from."""
        if not hits:
            yield CANNOT_ANSWER
            return
        self.messages = self.prompt(question, hits)
        started = False
        for piece in self.chat_model.stream(self.messages):
            if not started:  # chat models often open with blank lines
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                yield piece


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _instruction_runs() -> set[tuple[str, ...]]:
    """Every run of COPY_WORDS words in the prompts' own wording, the refusal
    sentence (a reply may be exactly that) excepted."""
    text = SYSTEM_PROMPT + " " + re.sub(r"\{\w+\}", " ", USER_TEMPLATE)
    words = _words(text.replace(CANNOT_ANSWER, " "))
    return {tuple(words[k : k + COPY_WORDS]) for k in range(len(words) - COPY_WORDS + 1)}


_RUNS = _instruction_runs()


def failure(text: str, n_sources: int) -> str:
    """Why a model's reply is no answer, or "" when it is one (a refusal is one).

    >>> failure("[1] [2]", 3)
    'was only citation markers'
    >>> failure("A title [1] [1] [1] [1]", 3)  # a small model looping on a marker
    'was mostly citation markers'
    >>> failure("Use only facts the sources state, never your own knowledge [1].", 3)
    'repeated its instructions'
    >>> failure("IBP is fast [4].", 3), failure("IBP is fast.", 3), failure("IBP is fast [1].", 3)
    ('cited none of the sources', 'cited none of the sources', '')
    """
    if is_refusal(text):
        return ""
    if not re.search(r"[^\W\d_]", strip_markers(text)):
        return "was only citation markers"
    words = _words(strip_markers(text))
    if len(_MARKERS.findall(text)) > len(words):
        return "was mostly citation markers"
    if any(tuple(words[k : k + COPY_WORDS]) in _RUNS for k in range(len(words))):
        return "repeated its instructions"
    if not any(1 <= n <= n_sources for n in cited_numbers(text)):
        return "cited none of the sources"
    return ""
