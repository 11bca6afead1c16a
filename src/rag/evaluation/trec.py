"""Pure ranking metrics with trec_eval's definitions, for benchmarks with graded qrels.

    >>> qrels = {"d1": 2, "d2": 1, "d3": 0}
    >>> round(ndcg_at(["d2", "x", "d1"], qrels, 10), 4), recall_at(["d2", "x"], qrels, 10)
    (0.7602, 0.5)

A ranking is a list of document ids, best first; qrels map a query's judged document
ids to their grade. A document is relevant when its grade is above 0 (trec_eval's
default relevance level for recall and reciprocal rank); unjudged documents are not
relevant. nDCG takes the grades as gains with a log2(rank + 1) discount, against the
ideal ordering of the judged grades (trec_eval's ndcg_cut, as BEIR reports it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, int]  # document id -> grade


def _unique(ranking: Sequence[str], k: int) -> list[str]:
    """The first k distinct ids: a document retrieved twice counts once."""
    return list(dict.fromkeys(ranking))[:k]


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain: sum of gain / log2(rank + 1), ranks from 1.

    >>> dcg([3, 0, 1])
    3.5
    """
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))


def ndcg_at(ranking: Sequence[str], qrels: Qrels, k: int = 10) -> float:
    """nDCG@k with graded gains; 0.0 for a query with no relevant document.

    >>> ndcg_at(["a", "b"], {"b": 1, "a": 1}), ndcg_at(["b", "a"], {"a": 2, "b": 1}, 1)
    (1.0, 0.5)
    """
    ideal = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    gains = [max(qrels.get(doc, 0), 0) for doc in _unique(ranking, k)]
    return dcg(gains) / dcg(ideal)


def recall_at(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """Relevant documents in the top k / relevant documents judged (0.0 when none).

    >>> recall_at(["a", "b", "c"], {"c": 1, "z": 2, "b": 0}, 2), recall_at(["c"], {"c": 1}, 1)
    (0.0, 1.0)
    """
    relevant = {doc for doc, g in qrels.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_unique(ranking, k))) / len(relevant)


def reciprocal_rank_at(ranking: Sequence[str], qrels: Qrels, k: int = 10) -> float:
    """1 / rank of the first relevant document within the top k, else 0.0.

    >>> reciprocal_rank_at(["a", "b", "c"], {"c": 1}), reciprocal_rank_at(["a", "c"], {"c": 1}, 1)
    (0.3333333333333333, 0.0)
    """
    for rank, doc in enumerate(_unique(ranking, k), start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0
