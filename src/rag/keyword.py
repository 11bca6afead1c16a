"""BM25 keyword index over the stored chunks (bm25s, English stemming and stop-words).

Built from the store's chunks when the engine opens the store and rebuilt after
each ingest, never per query. Scores for all chunks come back as one array, so
metadata filters are a mask rather than a second search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from .store import StoredChunk

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
