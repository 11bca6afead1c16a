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
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from ..keyword import KeywordIndex, TermTable, coverage
from ..store import short_error
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
        self.cross_encoder = CrossEncoderScorer(cross_encoder) if cross_encoder else None

    def rerank(
        self,
        query: str,
        vector: np.ndarray | None,
        candidates: list[Candidate],
        expansion: Sequence[str] = (),
        lead: tuple[str, Sequence[str]] | None = None,
    ) -> list[Candidate]:
        """The candidates scored (`rerank`), best first: by the cross-encoder when one
        is configured, else by the built-in score (module docstring). Expansion terms
        (already index terms) count toward its keyword coverage.

        With a lead (paper id, its title terms), a share of the score goes to the
        IDF-weighted part of that title each paper contains. The lead's own title
        is no evidence for it, so it gets the best of the others' shares.
        """
        if self.cross_encoder is not None:
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
        texts = [self.catalog[c.paper_id].text for c in candidates]
        for c, p in zip(candidates, self.cross_encoder.scores(query, texts), strict=True):
            c.scores["rerank"] = p
        return sorted(candidates, key=lambda c: -c.scores["rerank"])


class CrossEncoderScorer:
    """A sentence-transformers CrossEncoder (RAG_CROSS_ENCODER: a model name in the
    local cache, or a folder), loaded on first use, scoring (question, text) pairs as
    p(relevant): the sigmoid of its logit, in [0, 1] like the built-in score, which
    the list cut and the refusal model's `top` assume. (CrossEncoder.predict applies
    the model's own activation, a sigmoid unless its config names another: the logit
    is asked for, so the scale is the same for every model.)"""

    def __init__(self, name: str) -> None:
        self.name = name
        self._model = None
        self._lock = threading.Lock()

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        import torch

        logits = self._load().predict(
            [(query, t) for t in texts], activation_fn=torch.nn.Identity(), batch_size=16
        )
        return [1.0 / (1.0 + math.exp(-float(z))) for z in np.ravel(logits)]

    def _load(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                try:
                    self._model = CrossEncoder(self.name, device="cpu")
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cross-encoder {self.name} could not be loaded "
                        f"({short_error(exc)[:160]}): "
                        "set RAG_CROSS_ENCODER to a local CrossEncoder folder, or unset it"
                    ) from None
            return self._model
