"""Which sentence of a cited paper backs each [n] marker of an answer.

The engine's citation check keeps one supporting sentence per cited paper: the one
closest to its best claim. An answer may cite [1] on several claims, each resting
on a different sentence of paper 1. Here every claim gets, for each number it
cites, the sentence of that paper closest to it (cosine similarity of the same
MiniLM vectors the check uses), so each marker can point at its own evidence.

    >>> [(c.start, c.numbers) for c in claims("A is fast [1]. Why? B is small [1, 2].")]
    [(0, (1,)), (20, (1, 2))]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.answer.citations import (
    SentenceLookup,
    cited_numbers,
    claim_evidence,
    is_claim,
    split_sentences,
)
from rag.types import Answer

if TYPE_CHECKING:
    import numpy as np

Embed = Callable[[list[str]], "np.ndarray"]


@dataclass(frozen=True)
class Claim:
    """A sentence of the answer that cites, and where it sits in the answer text."""

    start: int
    end: int
    text: str
    numbers: tuple[int, ...]


@dataclass(frozen=True)
class Evidence:
    """The sentence of a paper that supports one claim, and how well (cosine)."""

    snippet: str
    support: float


# (claim start offset in the answer text, marker number) -> the claim's evidence
EvidenceMap = dict[tuple[int, int], Evidence]


def claims(text: str) -> list[Claim]:
    """The claims of an answer that carry markers, in order, with their offsets."""
    found: list[Claim] = []
    position = 0
    for sentence in split_sentences(text):
        start = text.find(sentence, position)
        if start < 0:  # whitespace changed by the splitter: the marker keeps its default
            continue
        position = start + len(sentence)
        numbers = tuple(cited_numbers(sentence))
        if numbers and is_claim(sentence):
            found.append(Claim(start, position, sentence, numbers))
    return found


def claim_at(found: Sequence[Claim], offset: int) -> Claim | None:
    """The claim whose text holds the character at `offset`."""
    return next((c for c in found if c.start <= offset < c.end), None)


def marker_evidence(
    answer: Answer, embed: Embed, sentences: SentenceLookup | None = None
) -> EvidenceMap:
    """For each claim and each number it cites, the closest sentence of that paper
    (the citation check's `claim_evidence`, kept per claim instead of per paper).

    Refusals get none: what a refusal says of a paper is what it lacks."""
    cited = {c.n for c in answer.citations if c.snippet}
    found_claims = [c for c in claims(answer.text) if cited.intersection(c.numbers)]
    if answer.refused or not found_claims:
        return {}
    pairs = [(c.text, [n for n in c.numbers if n in cited]) for c in found_claims]
    evidence = claim_evidence(pairs, answer.hits, embed, sentences)
    return {
        (claim.start, n): Evidence(snippet, support)
        for claim, per_number in zip(found_claims, evidence, strict=True)
        for n, (support, snippet) in per_number.items()
    }


def sentences_by_number(evidence: EvidenceMap) -> dict[int, list[Evidence]]:
    """Each number's distinct supporting sentences, in the order the answer cites
    them; a sentence backing several claims keeps its best support.

    >>> sentences_by_number({(0, 1): Evidence("a", .5), (9, 1): Evidence("a", .7)})
    {1: [Evidence(snippet='a', support=0.7)]}
    """
    by_number: dict[int, dict[str, Evidence]] = {}
    for (_, n), found in sorted(evidence.items()):
        seen = by_number.setdefault(n, {})
        if found.snippet not in seen or found.support > seen[found.snippet].support:
            seen[found.snippet] = found
    return {n: list(seen.values()) for n, seen in by_number.items()}
