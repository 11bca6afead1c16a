"""Answer synthesis: every answerer turns a question and its retrieved hits into text
with [n] markers, where n is the 1-based position of the hit in `hits`.

extractive.py  the offline default: whole abstract sentences, decided by tuned models
evidence.py    what those decisions measure (pure)
generative.py  any chat model, through a prompt (prompts.py)
followup.py    follow-up questions: condensing, and the papers they refer to
citations.py   every backend's answer is checked here: markers, claims, support

The engine joins the streamed pieces, then `citations.check_citations` validates
the markers and scores their support, whatever the backend.

Every answerer offers the same three things to the engine (`Answerer`); the engine
never asks which kind it holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..engine import Retrieval
    from .followup import FollowUp


class Answerer(Protocol):
    name: str
    # Whether its text is built from the sources themselves (quoted sentences): then
    # the checks for a reply that is no answer (markers only, copied instructions,
    # claims no sentence supports) do not apply. A model's reply is never trusted.
    grounded: bool

    def respond(
        self, question: str, retrieval: Retrieval, turn: FollowUp | None = None
    ) -> Iterator[str]:
        """The answer in pieces, with [n] markers for retrieval.hits[n-1]."""
        ...

    def evidence(self) -> dict[str, Any]:
        """What the last answer was decided from (shown with it), or {}."""
        ...
