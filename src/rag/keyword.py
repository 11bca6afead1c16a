"""BM25 keyword index over the stored chunks (bm25s, English stemming and stop-words).

Built from the store's chunks when the engine opens the store and rebuilt after
each ingest, never per query; saved with the library (library_index.py) and loaded,
memory-mapped, by the next process. Scores for all chunks come back as one array, so
metadata filters are a mask rather than a second search.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

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

    def save(self, folder: Path) -> None:
        """bm25s's arrays and vocabulary, and the chunk and paper id of each row."""
        folder.mkdir(parents=True)
        ids = {"chunk_ids": self.chunk_ids, "paper_ids": self.paper_ids}
        (folder / "ids.json").write_text(json.dumps(ids), "utf-8")
        if not self._empty:
            self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """An index save() wrote, its score arrays memory-mapped."""
        import bm25s
        import Stemmer

        index = cls.__new__(cls)
        index._stemmer = Stemmer.Stemmer("english")
        ids = json.loads((folder / "ids.json").read_text("utf-8"))
        index.chunk_ids, index.paper_ids = list(ids["chunk_ids"]), list(ids["paper_ids"])
        if len(index.chunk_ids) != len(index.paper_ids):
            raise ValueError("the keyword index's chunk and paper ids differ in number")
        index._empty = not index.chunk_ids
        index._retriever = bm25s.BM25()
        if not index._empty:
            index._retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
            rows = int(index._retriever.scores["num_docs"])
            if rows != len(index.chunk_ids):
                raise ValueError(
                    f"the keyword index has {rows} rows for {len(index.chunk_ids)} ids"
                )
        return index

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
    that coverage, expansion and the answerer's evidence read. Held as arrays (each
    paper's term ids, CSR-style) so a saved table loads memory-mapped.

        >>> table = TermTable(KeywordIndex([]).terms_of, {"a": "Sharp minima generalize."})
        >>> table.df("minima"), table.df("sharp"), sorted(table.paper_terms("a"))
        (1, 1, ['general', 'minima', 'sharp'])
    """

    def __init__(self, tokenize: Callable[[list[str]], list[list[str]]], texts: Mapping[str, str]):
        self.terms_of = tokenize
        vocab: dict[str, int] = {}
        indptr, term_ids = [0], []
        ids = list(texts)
        for start in range(0, len(ids), TERMS_BATCH):
            batch = ids[start : start + TERMS_BATCH]
            for tokens in tokenize([texts[p] for p in batch]):
                row = sorted({vocab.setdefault(t, len(vocab)) for t in tokens})
                term_ids.extend(row)
                indptr.append(len(term_ids))
        self._set(
            list(vocab),
            ids,
            np.asarray(indptr, dtype=np.int64),
            np.asarray(term_ids, dtype=np.int32),
        )

    def _set(self, vocab: list[str], paper_ids: list[str], indptr, term_ids) -> None:
        self._vocab = vocab
        self._term_ix = {t: i for i, t in enumerate(vocab)}
        self._row = {p: i for i, p in enumerate(paper_ids)}  # in row order
        self._indptr, self._term_ids = indptr, term_ids
        self._df = np.bincount(term_ids, minlength=len(vocab))

    @property
    def papers(self) -> int:
        return len(self._row)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        np.save(folder / "indptr.npy", self._indptr)
        np.save(folder / "term_ids.npy", self._term_ids)
        names = {"vocab": self._vocab, "paper_ids": list(self._row)}
        (folder / "names.json").write_text(json.dumps(names, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path, tokenize: Callable[[list[str]], list[list[str]]]) -> TermTable:
        table = cls.__new__(cls)
        table.terms_of = tokenize
        names = json.loads((folder / "names.json").read_text("utf-8"))
        indptr = np.load(folder / "indptr.npy", mmap_mode="r")
        term_ids = np.load(folder / "term_ids.npy", mmap_mode="r")
        vocab, paper_ids = list(names["vocab"]), list(names["paper_ids"])
        if len(indptr) != len(paper_ids) + 1 or (len(indptr) and indptr[-1] != len(term_ids)):
            raise ValueError("the term table's arrays do not match its paper ids")
        if len(term_ids) and int(term_ids.max()) >= len(vocab):
            raise ValueError("the term table refers to terms outside its vocabulary")
        table._set(vocab, paper_ids, indptr, term_ids)
        return table

    def paper_terms(self, paper_id: str) -> set[str]:
        row = self._row.get(paper_id)
        if row is None:
            return set()
        ids = self._term_ids[self._indptr[row] : self._indptr[row + 1]]
        return {self._vocab[i] for i in ids.tolist()}

    def df(self, term: str) -> int:
        i = self._term_ix.get(term)
        return 0 if i is None else int(self._df[i])

    def idf(self, term: str) -> float:
        """BM25's IDF (Robertson-Sparck Jones, +1 inside the log so it stays positive)."""
        n = max(len(self._row), 1)
        df = self.df(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
