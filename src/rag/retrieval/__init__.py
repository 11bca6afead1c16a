"""Finding papers for a question: `Retriever` (one library snapshot's dense and
keyword search, fused, fed back and reranked), its first stage (`fusion`) and its
second (`rerank`)."""

from ..keyword import coverage
from .fusion import Candidate, Pool, group_by_paper, rrf
from .rerank import Reranker, number_share, question_numbers, second_stage_features
from .retriever import Retriever

__all__ = [
    "Candidate",
    "Pool",
    "Reranker",
    "Retriever",
    "coverage",
    "group_by_paper",
    "number_share",
    "question_numbers",
    "rrf",
    "second_stage_features",
]
