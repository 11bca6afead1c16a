"""Answer synthesis: every answerer turns (question, retrieved hits) into text with
[n] markers, where n is the 1-based position of the hit in `hits`.

    class Answerer(Protocol):
        name: str
        def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]

The engine joins the streamed pieces, then `citations.check_citations` validates
the markers and scores their support, whatever the backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from ..types import Hit


class Answerer(Protocol):
    name: str

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """Pieces of the answer text as they are produced."""
        ...
