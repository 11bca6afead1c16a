"""The LLM answerer: the numbered sources and the question go to a chat model, whose
reply (with [n] markers) streams back. Citations are checked afterwards, by the
engine, with `citations.check_citations`, as for every answerer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..llms.base import ChatModel
from ..types import Hit
from .prompts import CANNOT_ANSWER, build_messages


class GenerativeAnswerer:
    """Answerer over any ChatModel; its name is the model's, e.g. "openai:gpt-4o-mini"."""

    def __init__(self, chat_model: ChatModel) -> None:
        self.chat_model = chat_model
        self.name = chat_model.name

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """Pieces of the model's answer; the refusal, without a model call, when
        there is nothing to answer from."""
        if not hits:
            yield CANNOT_ANSWER
            return
        started = False
        for piece in self.chat_model.stream(build_messages(question, hits)):
            if not started:  # chat models often open with blank lines
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                yield piece
