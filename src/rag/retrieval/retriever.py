"""The retriever over one library snapshot: dense + keyword rounds, fusion, the
feedback round, the second stage and the cut.

    question --embed--> Chroma (dense, chunk level) --\
                                                      RRF --> group by paper --> rerank --> cut
    question --BM25--> keyword index (chunk level) ---/

Modes, for the ablation in the eval report: "dense", "bm25", "hybrid" (fused),
"hybrid+rerank" (the default). Every number it uses is in tuning.RetrievalTuning,
with its source.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..keyword import KeywordIndex, TermTable
from ..store import Store, StoredChunk
from ..tuning import RetrievalTuning
from ..types import Hit, Paper
from .fusion import DEFAULTS, Candidate, Pool, below, group_by_paper, rrf
from .rerank import Reranker

if TYPE_CHECKING:
    from ..embedding import Embedder


class Retriever:
    """Finds papers for a question within an allowed set (None = all papers)."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        catalog: dict[str, Paper],
        cross_encoder: str | None = None,
        tuning: RetrievalTuning = DEFAULTS,
        *,
        keyword: KeywordIndex,
        terms: TermTable,
    ) -> None:
        """`keyword`, `terms`: the store's BM25 index and term statistics, built or
        loaded by the engine (Engine._build_snapshot, library_index.py)."""
        self.store = store
        self.tuning = tuning
        self.embedder = embedder
        self.catalog = catalog
        self.keyword = keyword
        self.terms = terms
        self._sentence_cache: OrderedDict[str, tuple[list[str], np.ndarray]] = OrderedDict()
        self.reranker = Reranker(
            embedder, self.sentences, keyword, terms, catalog, tuning, cross_encoder
        )

    def idf(self, term: str) -> float:
        return self.terms.idf(term)

    # ----------------------------------------------------------------- stages
    def dense(self, vector: np.ndarray, k: int, where: dict | None) -> list[StoredChunk]:
        return self.store.query(vector, k, where)

    def bm25(self, query: str, k: int, allowed: set[str] | None) -> list[tuple[str, str, float]]:
        scores = self.keyword.scores(query)
        if not len(scores):
            return []
        if allowed is not None:
            mask = np.fromiter((p in allowed for p in self.keyword.paper_ids), bool, len(scores))
            scores = np.where(mask, scores, 0.0)
        top = np.argsort(-scores)[:k]
        return [
            (self.keyword.chunk_ids[i], self.keyword.paper_ids[i], float(scores[i]))
            for i in top
            if scores[i] > 0
        ]

    def sentences(self, paper_ids: Sequence[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """Sentence texts and vectors per paper, cached (LRU) across queries."""
        missing = [p for p in paper_ids if p not in self._sentence_cache]
        if missing:
            for paper_id, value in self.store.sentences(missing).items():
                self._sentence_cache[paper_id] = value
            while len(self._sentence_cache) > 20000:
                self._sentence_cache.popitem(last=False)
        out = {}
        for paper_id in paper_ids:
            if paper_id in self._sentence_cache:
                self._sentence_cache.move_to_end(paper_id)
                out[paper_id] = self._sentence_cache[paper_id]
        return out

    # ----------------------------------------------------------------- search
    def search(
        self,
        query: str,
        mode: str = "hybrid+rerank",
        k: int = 5,
        where: dict | None = None,
        allowed: set[str] | None = None,
        list_question: bool = False,
        topic: str | None = None,
    ) -> list[Hit]:
        """Papers for the query, best first, one hit per paper. `topic`: the short
        named topic of a list question (QueryPlan.topic_phrase), if it has one."""
        vector = self.embedder.embed_one(query) if mode != "bm25" else None
        pool = Pool()
        t = self.tuning
        depth = self._depth(k)
        if vector is not None:
            pool.add_dense(self.dense(vector, depth, where))
        if mode != "dense":
            pool.add_keyword(self.bm25(query, depth, allowed))
        candidates = self._candidates(pool)
        score_key = "fused"
        if mode == "hybrid+rerank" and candidates:
            assert vector is not None
            candidates = self.reranker.rerank(query, vector, candidates[: t.rerank_depth])
            # Pseudo-relevance feedback (Rocchio 1971; RM3 for the keyword side):
            # the best papers reveal the field's own words for what the question
            # paraphrases ("grokking", "unlearning"), so a second round with them
            # finds the sibling papers a list question asks for.
            feedback = [c.paper_id for c in candidates[: t.feedback_papers]]
            terms = self.expansion_terms(query, feedback)
            v2 = self._feedback_vector(vector, feedback)
            pool.add_dense(self.dense(v2, t.candidates, where))
            if terms:
                pool.add_keyword(self.bm25(" ".join(terms), t.candidates, allowed))
            lead = candidates[0].paper_id
            if list_question:
                # The lead paper's title usually names the topic in the field's own
                # words ("neural collapse", "re-basin") that a paraphrased question
                # lacks: a keyword round with it brings in the papers that share them.
                pool.add_keyword(self.bm25(self.catalog[lead].title, t.candidates, allowed))
            pooled_all = self._candidates(pool)
            pooled = pooled_all[: t.rerank_depth]
            if list_question:
                # A list question asks for the siblings of the best papers, so the
                # second stage also scores against the feedback: the moved vector
                # and the expansion terms (multi-paper recall@5 0.64 -> 0.68 on
                # eval/questions.jsonl; other questions keep the plain question),
                # and how much of the lead's title each paper shares (0.68 -> 0.78).
                title = self.title_terms(lead, query)
                candidates = self.reranker.rerank(
                    query, v2, pooled, expansion=terms, lead=(lead, title)
                )
            else:
                candidates = self.reranker.rerank(query, vector, pooled)
            score_key = "rerank"
            if k > len(candidates):  # a deep list: the rest of the pool below the reranked
                candidates += below(pooled_all[t.rerank_depth :], candidates[-1].scores["rerank"])
        keep = self._cut(topic, candidates, score_key, k, list_question)
        return [self._hit(c, c.scores[score_key]) for c in keep]

    def _depth(self, k: int) -> int:
        """Chunks taken from each first-stage retriever: `candidates`, or for a longer list
        (a benchmark's top 100) enough for k papers with a margin (twice the library's
        chunks per paper: a paper's chunks tend to rank together)."""
        if k <= self.tuning.candidates:
            return self.tuning.candidates
        per_paper = len(self.keyword) / max(len(self.catalog), 1)
        return math.ceil(k * self.tuning.deep_margin * max(per_paper, 1.0))

    def _candidates(self, pool: Pool) -> list[Candidate]:
        grouped = group_by_paper(
            (cid, pool.texts[cid][0], score)
            for cid, score in rrf(pool.rankings, self.tuning.rrf_k).items()
        )
        out = []
        for pid, (cid, score) in grouped.items():
            if pid not in self.catalog:
                continue  # stored after this snapshot was taken
            c = Candidate(pid, cid, pool.texts[cid][1], score, {"fused": score})
            if pid in pool.dense_sim:
                c.scores["dense"] = pool.dense_sim[pid]
            out.append(c)
        return out

    def expansion_terms(self, query: str, feedback: Sequence[str]) -> list[str]:
        """Rare terms shared by at least two feedback papers and absent from the query."""
        if len(feedback) < 2:
            return []
        q_terms = set(self.keyword.terms(query))
        counts: dict[str, int] = {}
        for pid in feedback:
            for term in self.terms.paper_terms(pid):
                counts[term] = counts.get(term, 0) + 1
        shared = [t for t, n in counts.items() if n >= 2 and t not in q_terms and not t.isdigit()]
        # Many rare terms tie on IDF; the term itself breaks ties, since a set's order
        # (and so `counts`') changes from one process to the next with string hashing.
        shared.sort(key=lambda t: (-self.idf(t), t))
        return shared[: self.tuning.expansion_terms]

    def title_terms(self, paper_id: str, query: str) -> list[str]:
        """A paper's title terms that the query does not already have."""
        q_terms = set(self.keyword.terms(query))
        title = self.keyword.terms(self.catalog[paper_id].title)
        return [t for t in dict.fromkeys(title) if t not in q_terms and not t.isdigit()]

    def _feedback_vector(self, vector: np.ndarray, feedback: Sequence[str]) -> np.ndarray:
        """The question moved toward the sentences of the best papers that match it most."""
        sentences = self.sentences(feedback)
        picked = []
        for pid in feedback:
            texts, vectors = sentences.get(pid, ([], None))
            if vectors is None or not len(texts):
                continue
            sims = vectors @ vector
            picked.append(vectors[np.argsort(-sims)[:2]].mean(axis=0))
        if not picked:
            return vector
        moved = vector + self.tuning.feedback_weight * np.mean(picked, axis=0)
        return moved / np.linalg.norm(moved)

    def _naming(self, topic: str | None, candidates: list[Candidate]) -> set[str]:
        """Candidates whose title or abstract names the question's topic as a phrase.

        For "which papers study grokking?" a paper that says "grokking" is a member
        whatever its score: MiniLM scores the library's five grokking papers 0.56-0.74,
        and a list answer cut relative to the best one cited two. The phrase is matched
        on the keyword index's stemmed terms, in order ("losing plasticity" is not
        "loss of plasticity"); a paper that words it otherwise is left to its score.
        """
        phrase = self.keyword.terms(topic) if topic else []
        if not phrase:
            return set()
        texts = [self.catalog[c.paper_id].text for c in candidates]
        named = set()
        needle = f" {' '.join(phrase)} "
        for c, terms in zip(candidates, self.keyword.terms_of(texts), strict=True):
            if needle in f" {' '.join(terms)} ":
                c.names_topic = True
                named.add(c.paper_id)
        return named

    def _cut(
        self, topic: str | None, candidates: list[Candidate], key: str, k: int, list_question: bool
    ) -> list[Candidate]:
        """The top k; for a list question every paper near the best one or naming
        its topic (at most `list_max`), in score order, at least k."""
        if not list_question or key != "rerank" or not candidates:
            return candidates[:k]
        best = candidates[0].scores[key]
        named = self._naming(topic, candidates)
        members = [
            c
            for c in candidates
            if c.scores[key] >= best * self.tuning.list_relative_cut or c.paper_id in named
        ][: self.tuning.list_max]
        kept = {c.paper_id for c in members}
        rest = [c for c in candidates if c.paper_id not in kept][: max(0, k - len(members))]
        return sorted(members + rest, key=lambda c: -c.scores[key])

    def _hit(self, c: Candidate, score: float) -> Hit:
        paper = self.catalog[c.paper_id]
        text = c.text or f"{paper.title}\n{paper.abstract}"
        return Hit(
            paper=paper, score=score, text=text, scores=dict(c.scores), names_topic=c.names_topic
        )
