"""The second stage: each fused candidate paper scored on what the first stage cannot
see (weights in tuning.RERANK_MODEL, with their rationale).

Without cross-encoder weights (none can be installed offline here), the score
combines the question against each sentence of the abstract (a finding is usually
stated in one sentence, and a chunk vector dilutes it), IDF-weighted keyword and
number coverage over the whole paper, and the fused rank as a prior. With a
cross-encoder configured (RAG_CROSS_ENCODER), it scores (question, paper) pairs
instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..keyword import KeywordIndex, TermTable, coverage
from ..tuning import RetrievalTuning
from ..types import Paper
from .fusion import Candidate

if TYPE_CHECKING:
    from ..embedding import Embedder

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def second_stage_features(
    sims: np.ndarray, keyword: float, number: float, rank: int
) -> dict[str, float]:
    """The second stage's features of one paper (weighed by tuning.RERANK_MODEL):
    `sims`, the question's cosines with the paper's title and sentences; `keyword`,
    the IDF-weighted share of the question's terms it has; `number`, the share of the
    question's numbers its abstract states; `rank`, its first-stage rank (0 = best).

    >>> round(second_stage_features(np.array([0.2, 0.8, 0.6]), 0.5, 0.0, 0)["top2"], 3)
    0.7
    """
    ranked = np.sort(sims)[::-1] if len(sims) else np.zeros(1)
    return {
        "best": float(ranked[0]),
        "top2": float(ranked[:2].mean()),
        "keyword": keyword,
        "number": number,
        "prior": 1.0 / (1.0 + rank / 10.0),
    }


def number_share(numbers: set[str], text: str) -> float:
    """The share of the question's numbers the text states (0 when it has none)."""
    return sum(n in text for n in numbers) / len(numbers) if numbers else 0.0


def question_numbers(question: str) -> set[str]:
    return set(_NUMBER.findall(question))


class Reranker:
    """The second stage over one library snapshot's papers."""

    def __init__(
        self,
        embedder: Embedder,
        sentences: Callable[[Sequence[str]], dict[str, tuple[list[str], np.ndarray]]],
        keyword: KeywordIndex,
        terms: TermTable,
        catalog: dict[str, Paper],
        tuning: RetrievalTuning,
        cross_encoder: str | None = None,
    ) -> None:
        """`sentences`: the sentence texts and vectors of papers by id (cached by the
        retriever, read by the answerer too)."""
        self.embedder = embedder
        self.sentences = sentences
        self.keyword = keyword
        self.terms = terms
        self.catalog = catalog
        self.tuning = tuning
        self._cross_encoder_name = cross_encoder
        self._cross_encoder = None

    def rerank(
        self,
        query: str,
        vector: np.ndarray | None,
        candidates: list[Candidate],
        expansion: Sequence[str] = (),
        lead: tuple[str, Sequence[str]] | None = None,
    ) -> list[Candidate]:
        """Second stage on the fused candidates.

        Without cross-encoder weights (none can be installed offline here), the
        score combines signals the first stage cannot see: the question against
        each sentence of the abstract (a finding is usually stated in one
        sentence, and a chunk vector dilutes it), IDF-weighted keyword and number
        coverage over the whole paper, and the fused rank as a prior. Expansion
        terms (already index terms) count toward the keyword coverage.

        With a lead (paper id, its title terms), a share of the score goes to the
        IDF-weighted part of that title each paper contains. The lead's own title
        is no evidence for it, so it gets the best of the others' shares.
        """
        if self._cross_encoder_name:
            return self._cross_rerank(query, candidates)
        if vector is None:
            vector = self.embedder.embed_one(query)
        sentences = self.sentences([c.paper_id for c in candidates])
        q_terms = [*self.keyword.terms(query), *expansion]
        weights = {t: self.terms.idf(t) for t in q_terms}  # once per query, not per candidate
        q_numbers = question_numbers(query)
        model = self.tuning.rerank  # weights in tuning.RERANK_MODEL, with their rationale
        for rank, c in enumerate(candidates):
            texts, vectors = sentences.get(c.paper_id, ([], np.zeros((0, len(vector)))))
            terms = self.terms.paper_terms(c.paper_id)
            kw = coverage(q_terms, terms, weights.__getitem__)
            paper = self.catalog[c.paper_id]
            num = number_share(q_numbers, paper.abstract)
            features = second_stage_features(vectors @ vector, kw, num, rank)
            c.scores.update(sentence=features["best"], keyword=kw)
            c.scores["rerank"] = model.logit(features)
        if lead and lead[1]:
            lead_id, title = lead  # sibling scores are in [0, 1], like the rest
            for c in candidates:
                if c.paper_id != lead_id:
                    terms = self.terms.paper_terms(c.paper_id)
                    c.scores["sibling"] = coverage(title, terms, self.terms.idf)
            best_other = max((c.scores.get("sibling", 0.0) for c in candidates), default=0.0)
            w = self.tuning.lead_title_weight
            for c in candidates:
                sibling = c.scores.setdefault("sibling", best_other)
                c.scores["rerank"] = (1 - w) * c.scores["rerank"] + w * sibling
        return sorted(candidates, key=lambda c: -c.scores["rerank"])

    def _cross_rerank(self, query: str, candidates: list[Candidate]) -> list[Candidate]:
        if self._cross_encoder is None:
            from sentence_transformers import CrossEncoder

            self._cross_encoder = CrossEncoder(self._cross_encoder_name, device="cpu")
        pairs = [(query, self.catalog[c.paper_id].text) for c in candidates]
        scores = self._cross_encoder.predict(pairs)
        for c, s in zip(candidates, scores):
            c.scores["rerank"] = 1.0 / (1.0 + math.exp(-float(s)))
        return sorted(candidates, key=lambda c: -c.scores["rerank"])
