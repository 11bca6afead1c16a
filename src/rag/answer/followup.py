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
SHORT_FOLLOWUP_WORDS = 8  # "what about X?" up to this long is a follow-up

# Words that only make sense with an antecedent in an earlier turn.
_PRONOUNS = re.compile(
    r"\b(it|its|itself|they|them|their|theirs|he|she|his|her|hers|the former|the latter)\b"
)
_DEICTIC = re.compile(
    r"\b(this|that|these|those|the same|the above|the previous|the aforementioned|"
    r"said|such)\s+(papers?|works?|stud(y|ies)|methods?|approach(es)?|models?|"
    r"techniques?|results?|findings?|datasets?|benchmarks?|authors?|articles?|"
    r"algorithms?|architectures?|frameworks?|systems?|ones?|idea|system card)\b"
)
_DEFINITE = re.compile(r"\b(the (authors?|paper|article|study|first one|second one|last one))\b")
_BARE_DEICTIC_END = re.compile(r"\b(this|that|these|those)\s*[?.!]*$")
_CONTINUATION = re.compile(r"^(what|how) about\b|^and\b|^also\b|^what else\b")


def refers_back(question: str) -> bool:
    """Whether the question leans on an earlier turn: pronouns ("it", "they"),
    deictics ("this paper", "that method", "the authors") or a short
    "what about ...?" continuation.

    >>> [refers_back(q) for q in ("Who are the authors?", "what about CIFAR-10?",
    ...                           "Which papers study robustness?")]
    [True, True, False]
    """
    text = " ".join(question.lower().split())
    if _PRONOUNS.search(text) or _DEICTIC.search(text) or _DEFINITE.search(text):
        return True
    if _BARE_DEICTIC_END.search(text):  # "why is that?", "who wrote this?"
        return True
    return bool(_CONTINUATION.search(text)) and len(text.split()) <= SHORT_FOLLOWUP_WORDS


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
