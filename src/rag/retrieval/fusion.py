"""First-stage fusion: chunk rankings from every retrieval round, fused by reciprocal
rank and grouped by paper.

Fusion is reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009,
"Reciprocal Rank Fusion outperforms Condorcet and individual rank learning
methods"): it needs no score calibration between BM25 (unbounded) and cosine
(bounded), which is why it is preferred here over a weighted score sum.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..store import StoredChunk
from ..tuning import RetrievalTuning

DEFAULTS = RetrievalTuning()


def rrf(rankings: Sequence[Sequence[str]], k: int = DEFAULTS.rrf_k) -> dict[str, float]:
    """Reciprocal rank fusion of ranked id lists (1-based ranks).

    >>> sorted(rrf([["a", "b"], ["b", "c"]]).items())[0]
    ('a', 0.01639344262295082)
    """
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def group_by_paper(
    scored: Iterable[tuple[str, str, float]],
) -> OrderedDict[str, tuple[str, float]]:
    """(chunk_id, paper_id, score) -> paper_id: (best chunk_id, best score), best first.

    >>> list(group_by_paper([("a#0", "a", 0.2), ("a#1", "a", 0.9), ("b#0", "b", 0.5)]).items())
    [('a', ('a#1', 0.9)), ('b', ('b#0', 0.5))]
    """
    best: dict[str, tuple[str, float]] = {}
    for chunk_id, paper_id, score in scored:
        if paper_id not in best or score > best[paper_id][1]:
            best[paper_id] = (chunk_id, score)
    return OrderedDict(sorted(best.items(), key=lambda item: -item[1][1]))


def below(tail: list[Candidate], floor: float) -> list[Candidate]:
    """Candidates past the second stage's depth, kept in first-stage order and scored
    just below the last reranked one (floor), for lists longer than the rerank depth."""
    for i, c in enumerate(tail, start=1):
        c.scores["rerank"] = floor - i * 1e-6
    return tail


class Pool:
    """Ranked chunk lists from every retrieval round, for fusion."""

    def __init__(self) -> None:
        self.rankings: list[list[str]] = []
        self.texts: dict[str, tuple[str, str]] = {}  # chunk_id -> (paper_id, text)
        self.dense_sim: dict[str, float] = {}  # paper_id -> best cosine in round one

    def add_dense(self, hits: list[StoredChunk]) -> None:
        first = not self.dense_sim
        self.rankings.append([h.chunk_id for h in hits])
        for h in hits:
            self.texts[h.chunk_id] = (h.paper_id, h.text)
            if first:
                self.dense_sim[h.paper_id] = max(self.dense_sim.get(h.paper_id, -1.0), h.similarity)

    def add_keyword(self, hits: list[tuple[str, str, float]]) -> None:
        self.rankings.append([chunk_id for chunk_id, _, _ in hits])
        for chunk_id, paper_id, _ in hits:
            self.texts.setdefault(chunk_id, (paper_id, ""))


@dataclass
class Candidate:
    paper_id: str
    chunk_id: str
    text: str
    fused: float
    scores: dict[str, float]
    names_topic: bool = False
