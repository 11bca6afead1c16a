"""Dense + keyword retrieval, rank fusion, grouping by paper, and reranking.

    question --embed--> Chroma (dense, chunk level) --\
                                                      RRF --> group by paper --> rerank --> cut
    question --BM25--> keyword index (chunk level) ---/

Modes, for the ablation in the eval report: "dense", "bm25", "hybrid" (fused),
"hybrid+rerank" (the default).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .keyword import KeywordIndex, TermTable, coverage
from .store import Store, StoredChunk
from .tuning import RetrievalTuning
from .types import Hit, Paper

if TYPE_CHECKING:
    from .embedding import Embedder

# Every number the retriever uses is in tuning.RetrievalTuning, with its source.
# Fusion is reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009,
# "Reciprocal Rank Fusion outperforms Condorcet and individual rank learning
# methods"): it needs no score calibration between BM25 (unbounded) and cosine
# (bounded), which is why it is preferred here over a weighted score sum.
DEFAULTS = RetrievalTuning()

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


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


def _below(tail: list[Candidate], floor: float) -> list[Candidate]:
    """Candidates past the second stage's depth, kept in first-stage order and scored
    just below the last reranked one (floor), for lists longer than the rerank depth."""
    for i, c in enumerate(tail, start=1):
        c.scores["rerank"] = floor - i * 1e-6
    return tail


class _Pool:
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
        self._cross_encoder_name = cross_encoder
        self._cross_encoder = None

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
        pool = _Pool()
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
            candidates = self.rerank(query, vector, candidates[: t.rerank_depth])
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
                candidates = self.rerank(query, v2, pooled, expansion=terms, lead=(lead, title))
            else:
                candidates = self.rerank(query, vector, pooled)
            score_key = "rerank"
            if k > len(candidates):  # a deep list: the rest of the pool below the reranked
                candidates += _below(pooled_all[t.rerank_depth :], candidates[-1].scores["rerank"])
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

    def _candidates(self, pool: _Pool) -> list[Candidate]:
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

    # ---------------------------------------------------------------- rerank
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
        weights = {t: self.idf(t) for t in q_terms}  # once per query, not per candidate
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
                    c.scores["sibling"] = coverage(title, terms, self.idf)
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
