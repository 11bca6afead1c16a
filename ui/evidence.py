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
    is_claim,
    split_sentences,
    strip_markers,
)
from rag.sentences import split_sentences as split_abstract
from rag.types import Answer, Paper

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


def _claim_body(claim: str, title: str) -> str:
    """What the claim asserts: no markers, list bullet or leading "Title:"."""
    bare = strip_markers(claim).strip().lstrip("-*• ").strip()
    if bare.lower().startswith(title.lower() + ":"):
        return bare[len(title) + 1 :].strip()
    return bare


def marker_evidence(
    answer: Answer, embed: Embed, sentences: SentenceLookup | None = None
) -> EvidenceMap:
    """For each claim and each number it cites, the closest sentence of that paper.

    Refusals get none: what a refusal says of a paper is what it lacks."""
    cited = {c.n: c.paper for c in answer.citations if c.snippet}
    pairs = [(c, n) for c in claims(answer.text) for n in c.numbers if n in cited]
    if answer.refused or not pairs:
        return {}
    papers = {n: cited[n] for _, n in pairs}
    rows = _paper_rows(papers, embed, sentences)
    bodies = [_claim_body(c.text, cited[n].title) for c, n in pairs]
    vectors = embed(bodies)
    found: EvidenceMap = {}
    for (claim, n), vector in zip(pairs, vectors, strict=True):
        texts, paper_vectors = rows[n]
        sims = paper_vectors @ vector
        body = sims[1:] if len(texts) > 1 else sims
        best = int(body.argmax()) + (1 if len(texts) > 1 else 0)
        found[(claim.start, n)] = Evidence(texts[best], float(max(sims[best], sims[0])))
    return found


def _paper_rows(
    papers: dict[int, Paper], embed: Embed, sentences: SentenceLookup | None
) -> dict[int, tuple[list[str], np.ndarray]]:
    """Per number, the paper's title and abstract sentences with their vectors:
    from the store when it has them, else embedded here."""
    stored = sentences([p.paper_id for p in papers.values()]) if sentences else {}
    rows = {}
    for n, paper in papers.items():
        if paper.paper_id in stored:
            rows[n] = stored[paper.paper_id]
        else:
            texts = [paper.title, *split_abstract(paper.abstract)]
            rows[n] = (texts, embed(texts))
    return rows


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
