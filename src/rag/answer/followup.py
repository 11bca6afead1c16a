"""Follow-up questions: "what dataset did it use?" only makes sense after the turn
before it. `condense` rewrites such a question into one that can be searched alone
(with a chat model when there is one, else by naming the previous turn's paper),
and `carry_papers` says which papers the follow-up is about.

    >>> refers_back("What dataset did they use?"), refers_back("What is IBP?")
    (True, False)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import LLMError
from ..llms.base import ChatModel
from ..query import refers_back
from .prompts import build_condense_messages

if TYPE_CHECKING:
    from ..types import Answer


@dataclass(frozen=True)
class Turn:
    """One finished exchange, as much of it as a follow-up needs."""

    question: str
    answer: str
    paper_ids: tuple[str, ...]  # papers the answer cited, in citation order
    titles: tuple[str, ...]  # their titles, same order

    @classmethod
    def of(cls, answer: Answer) -> Turn:
        """What a follow-up needs of a finished answer."""
        return cls(
            answer.question,
            answer.text,
            tuple(c.paper.paper_id for c in answer.citations),
            tuple(c.paper.title for c in answer.citations),
        )


@dataclass(frozen=True)
class FollowUp:
    """The turn being answered, when it refers back to the previous one."""

    question: str  # as the user asked it, pronouns and all
    said: str  # the previous answer, not to be repeated


HISTORY_TURNS = 3  # the condense prompt shows this many recent turns
ANSWER_CHARS = 300  # of each shown answer
MAX_STANDALONE_FACTOR = 4  # a "rewrite" much longer than the question is a ramble


def condense(question: str, history: Sequence[Turn], chat_model: ChatModel | None = None) -> str:
    """A standalone version of the question, given the conversation so far.

    Without history the question is already standalone. With a chat model it is
    asked to rewrite the question; if it fails (LLMError) or replies with
    nothing usable, the rule path is used: a question that refers back gets the
    subject of the latest turn appended.

    >>> t = Turn("Which paper studies IBP?", "See [1].", ("p_1",), ("Understanding IBP",))
    >>> condense("What dataset did it use?", [t])
    'What dataset did it use? (regarding: Understanding IBP)'
    """
    question = " ".join(question.split())
    if not history:
        return question
    if chat_model is not None:
        try:
            reply = chat_model.chat(build_condense_messages(question, format_history(history)))
        except LLMError:
            reply = ""
        standalone = _clean_reply(reply)
        if _usable(standalone, question):
            return standalone
    return _condense_by_rule(question, history)


def carry_papers(question: str, history: Sequence[Turn]) -> tuple[str, ...]:
    """Ids of the papers a follow-up is about (the latest turn's cited papers), or ().

    >>> t = Turn("q", "a [1]", ("p_1", "p_2"), ("A", "B"))
    >>> carry_papers("Who are the authors?", [t]), carry_papers("What is IBP?", [t])
    (('p_1', 'p_2'), ())
    """
    if not refers_back(question):
        return ()
    for turn in reversed(history):
        if turn.paper_ids:
            return turn.paper_ids
    return ()


def format_history(history: Sequence[Turn], turns: int = HISTORY_TURNS) -> str:
    """The recent turns as plain text for the condense prompt."""
    lines = []
    for turn in history[-turns:]:
        answer = " ".join(turn.answer.split())
        if len(answer) > ANSWER_CHARS:
            answer = answer[: ANSWER_CHARS - 1] + "…"
        lines.append(f"User: {turn.question}")
        lines.append(f"Assistant: {answer}")
        if turn.titles:
            lines.append("Papers discussed: " + "; ".join(turn.titles))
    return "\n".join(lines)


def _condense_by_rule(question: str, history: Sequence[Turn]) -> str:
    if not refers_back(question):
        return question
    for turn in reversed(history):
        if turn.titles:
            return f"{question} (regarding: {turn.titles[0]})"
    return f"{question} (regarding: {history[-1].question})"


def _usable(standalone: str, question: str) -> bool:
    """A rewrite is used only if it looks like one: not empty, not a ramble, and a
    question when the user asked one (small models echo the prompt instead)."""
    if not standalone or len(standalone) > MAX_STANDALONE_FACTOR * len(question) + 200:
        return False
    return standalone.endswith("?") or not question.endswith("?")


def _clean_reply(reply: str) -> str:
    """The first non-empty line of a model's rewrite, without labels and quotes."""
    for line in reply.splitlines():
        line = re.sub(
            r"^\W*(standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I
        )
        line = line.strip().strip("\"'“”*` ").strip()
        if line:
            return line
    return ""
