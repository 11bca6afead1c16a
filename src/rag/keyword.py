"""BM25 keyword index over the stored chunks (bm25s, English stemming and stop-words).

Built from the store's chunks when the engine opens the store and rebuilt after
each ingest, never per query. Scores for all chunks come back as one array, so
metadata filters are a mask rather than a second search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from .store import StoredChunk


def coverage(query_terms: Sequence[str], doc_terms: set[str], idf: Callable[[str], float]) -> float:
    """IDF-weighted share of the query's terms found in a document, in [0, 1].

    >>> coverage(["a", "b"], {"a"}, lambda t: 1.0)
    0.5
    """
    unique = dict.fromkeys(query_terms)  # in query order: the same sum in every process
    total = sum(idf(t) for t in unique)
    if total == 0:
        return 0.0
    return sum(idf(t) for t in unique if t in doc_terms) / total


_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-][a-z0-9]+)*")


class KeywordIndex:
    def __init__(self, chunks: Iterable[StoredChunk]) -> None:
        import bm25s
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")
        rows = list(chunks)
        self.chunk_ids = [c.chunk_id for c in rows]
        self.paper_ids = [c.paper_id for c in rows]
        self._retriever = bm25s.BM25()  # Lucene variant, k1=1.5, b=0.75
        self._empty = not rows
        if rows:
            tokens = bm25s.tokenize(
                [c.text for c in rows], stopwords="en", stemmer=self._stemmer, show_progress=False
            )
            self._retriever.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for the query (zeros when no term matches)."""
        if self._empty:
            return np.zeros(0, dtype=np.float32)
        import bm25s

        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False
        )[0]
        if not tokens:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)

    def terms(self, text: str) -> list[str]:
        """Stemmed content terms of a text, as the index sees them."""
        return self.terms_of([text])[0]

    def terms_of(self, texts: list[str]) -> list[list[str]]:
        """terms() of many texts in one call (per-call overhead dominates short texts)."""
        import bm25s

        if not texts:
            return []
        return bm25s.tokenize(
            texts, stopwords="en", stemmer=self._stemmer, show_progress=False, return_ids=False
        )


TERMS_BATCH = 4096  # texts tokenized per call when the term sets are built


class TermTable:
    """Each paper's set of terms and each term's document frequency, as the keyword
    index tokenizes (stemmed, stop words dropped): the library's term statistics
    that coverage, expansion and the answerer's evidence read.

        >>> table = TermTable(KeywordIndex([]).terms_of, {"a": "Sharp minima generalize."})
        >>> table.df("minima"), table.df("sharp"), sorted(table.paper_terms("a"))
        (1, 1, ['general', 'minima', 'sharp'])
    """

    def __init__(self, tokenize: Callable[[list[str]], list[list[str]]], texts: Mapping[str, str]):
        self.terms_of = tokenize
        self._terms: dict[str, set[str]] = {}
        self._df: dict[str, int] = {}
        ids = list(texts)
        for start in range(0, len(ids), TERMS_BATCH):
            batch = ids[start : start + TERMS_BATCH]
            for paper_id, tokens in zip(batch, tokenize([texts[p] for p in batch]), strict=True):
                terms = set(tokens)
                self._terms[paper_id] = terms
                for term in terms:
                    self._df[term] = self._df.get(term, 0) + 1

    def paper_terms(self, paper_id: str) -> set[str]:
        return self._terms.get(paper_id, set())

    def df(self, term: str) -> int:
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        """BM25's IDF (Robertson-Sparck Jones, +1 inside the log so it stays positive)."""
        n = max(len(self._terms), 1)
        df = self._df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
