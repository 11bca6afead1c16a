"""BM25 keyword index over the stored chunks (bm25s, English stemming and stop-words).

Built from the store's chunks when the engine opens the store and updated after each
write for the chunks it touched (`KeywordIndex.updated`), never per query; saved with
the library (library_index.py) and loaded, memory-mapped, by the next process. Scores
for all chunks come back as one array, so metadata filters are a mask rather than a
second search.
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


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def _csr(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ids as CSR arrays: row i is ids[indptr[i]:indptr[i + 1]]."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    ids = np.fromiter((i for r in rows for i in r), dtype=np.int32, count=int(indptr[-1]))
    return indptr, ids


def _index(retriever, indptr: np.ndarray, token_ids: np.ndarray, vocab: dict[str, int]) -> None:
    """What bm25s's BM25.index() sets, computed from CSR token arrays in a few array
    operations instead of a Python loop over the documents (3 s against 9.7 s at 100k
    chunks; a test checks the arrays against bm25s's own). Its Lucene BM25: per
    (term, document) pair, idf * tf / (tf + k1 * (1 - b + b * length / mean length)),
    idf = log(1 + (N - df + 0.5) / (df + 0.5)), stored column by column (a CSC matrix,
    one column per term); the empty token "" comes last, with no column, as there."""
    n_docs, n_vocab = len(indptr) - 1, len(vocab)
    lengths = np.diff(indptr)
    docs = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    pairs, tf = np.unique(np.asarray(token_ids, dtype=np.int64) * n_docs + docs, return_counts=True)
    term, doc = pairs // n_docs, pairs % n_docs  # sorted by term, then document
    per_term = np.bincount(term, minlength=n_vocab)  # the document frequency
    idf = np.log(1 + (n_docs - per_term + 0.5) / (per_term + 0.5)).astype(np.float32)
    k1, b = retriever.k1, retriever.b
    norm = k1 * ((1 - b) + b * lengths[doc] / lengths.mean())
    tf = tf.astype(np.float32)
    columns = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(per_term, out=columns[1:])
    retriever.scores = {
        "data": (idf[term] * (tf / (norm + tf))).astype(retriever.dtype),
        "indices": doc.astype(retriever.int_dtype),
        "indptr": columns,
        "num_docs": n_docs,
    }
    if "" not in vocab:
        vocab[""] = max(vocab.values(), default=-1) + 1
    retriever.vocab_dict = vocab
    retriever.unique_token_ids_set = set(vocab.values())
    retriever.nonoccurrence_array = None  # only BM25L and BM25+ have one


def _merged(
    indptr: np.ndarray,
    ids: np.ndarray,
    keep: np.ndarray,
    new: Sequence[Sequence[int]],
    vocab: dict[str, int],
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """CSR rows: the `keep` (a boolean per row) rows of (indptr, ids), then `new`; and
    the vocabulary cut to the ids they use, renumbered 0..n-1 in their old order (an
    update drops the terms only removed rows had, so it does not grow with each one)."""
    lengths = np.diff(indptr)
    kept = np.asarray(ids)[np.repeat(keep, lengths)]
    added_ptr, added = _csr(new)
    rows = np.concatenate([lengths[keep], np.diff(added_ptr)])
    merged = np.concatenate([kept, added]).astype(np.int32)
    out = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(rows, out=out[1:])
    used = np.flatnonzero(np.bincount(merged, minlength=len(vocab)))
    renumber = np.full(len(vocab), -1, dtype=np.int32)
    renumber[used] = np.arange(len(used), dtype=np.int32)
    kept_vocab = {t: int(renumber[i]) for t, i in vocab.items() if renumber[i] >= 0}
    return out, renumber[merged], kept_vocab


class KeywordIndex:
    """BM25 over chunks, with each chunk's token ids kept (CSR arrays in the index's
    vocabulary) so that an update re-tokenizes only the chunks that changed."""

    def __init__(self, chunks: Iterable[StoredChunk]) -> None:
        import bm25s

        rows = list(chunks)
        ids: list[list[int]] = []
        vocab: dict[str, int] = {}
        if rows:
            tokens = bm25s.tokenize(
                [c.text for c in rows], stopwords="en", stemmer=_stemmer(), show_progress=False
            )
            ids, vocab = tokens.ids, dict(tokens.vocab)
        self._build([c.chunk_id for c in rows], [c.paper_id for c in rows], *_csr(ids), vocab)

    def _build(self, chunk_ids, paper_ids, indptr, token_ids, vocab: dict[str, int]) -> None:
        import bm25s

        self._stemmer = _stemmer()
        self.chunk_ids, self.paper_ids = list(chunk_ids), list(paper_ids)
        self._indptr, self._token_ids = indptr, token_ids
        self._retriever = bm25s.BM25()  # Lucene variant, k1=1.5, b=0.75
        self._empty = not self.chunk_ids
        if not self._empty:
            _index(self._retriever, indptr, token_ids, dict(vocab))

    def updated(self, papers: set[str], chunks: Iterable[StoredChunk]) -> KeywordIndex:
        """A new index: this one's chunks of papers not in `papers`, then `chunks` (the
        current chunks of those papers). Only the new chunks are tokenized; BM25's
        statistics (document frequencies, mean length) are computed afresh over all, so
        the scores equal those of an index built from scratch over the same chunks."""
        keep = np.fromiter((p not in papers for p in self.paper_ids), bool, len(self.paper_ids))
        kept = np.flatnonzero(keep)
        new = list(chunks)
        vocab = self.vocabulary()
        rows = [
            [vocab.setdefault(t, len(vocab)) for t in terms]
            for terms in (self.terms_of([c.text for c in new]) if new else [])
        ]
        indptr, token_ids, vocab = _merged(self._indptr, self._token_ids, keep, rows, vocab)
        index = KeywordIndex.__new__(KeywordIndex)
        index._build(
            [self.chunk_ids[i] for i in kept] + [c.chunk_id for c in new],
            [self.paper_ids[i] for i in kept] + [c.paper_id for c in new],
            indptr,
            token_ids,
            vocab,
        )
        return index

    def vocabulary(self) -> dict[str, int]:
        """Token -> id, the ids the token arrays use (ids 0..n-1)."""
        if self._empty:
            return {}
        return {t: int(i) for t, i in self._retriever.vocab_dict.items()}

    def save(self, folder: Path) -> None:
        """bm25s's arrays and vocabulary, the chunk and paper id of each row, and each
        row's token ids."""
        folder.mkdir(parents=True)
        ids = {"chunk_ids": self.chunk_ids, "paper_ids": self.paper_ids}
        (folder / "ids.json").write_text(json.dumps(ids), "utf-8")
        np.save(folder / "token_indptr.npy", self._indptr)
        np.save(folder / "token_ids.npy", self._token_ids)
        if not self._empty:
            self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        """An index save() wrote, its arrays memory-mapped."""
        import bm25s

        index = cls.__new__(cls)
        index._stemmer = _stemmer()
        ids = json.loads((folder / "ids.json").read_text("utf-8"))
        index.chunk_ids, index.paper_ids = list(ids["chunk_ids"]), list(ids["paper_ids"])
        if len(index.chunk_ids) != len(index.paper_ids):
            raise ValueError("the keyword index's chunk and paper ids differ in number")
        index._indptr = np.load(folder / "token_indptr.npy", mmap_mode="r")
        index._token_ids = np.load(folder / "token_ids.npy", mmap_mode="r")
        if len(index._indptr) != len(index.chunk_ids) + 1 or (
            len(index._indptr) and index._indptr[-1] != len(index._token_ids)
        ):
            raise ValueError("the keyword index's token arrays do not match its chunk ids")
        index._empty = not index.chunk_ids
        index._retriever = bm25s.BM25()
        if not index._empty:
            index._retriever = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
            rows = int(index._retriever.scores["num_docs"])
            if rows != len(index.chunk_ids):
                raise ValueError(
                    f"the keyword index has {rows} rows for {len(index.chunk_ids)} ids"
                )
            if len(index._token_ids) and int(index._token_ids.max()) >= len(
                index._retriever.vocab_dict
            ):
                raise ValueError("the keyword index's tokens are outside its vocabulary")
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

    def updated(self, papers: set[str], texts: Mapping[str, str]) -> TermTable:
        """A new table: this one's rows of papers not in `papers`, then rows for `texts`
        (the current text of those papers still stored); only those are tokenized."""
        ids = list(self._row)
        keep = np.fromiter((p not in papers for p in ids), bool, len(ids))
        vocab = {t: i for i, t in enumerate(self._vocab)}
        new = list(texts)
        rows = []
        for start in range(0, len(new), TERMS_BATCH):
            for tokens in self.terms_of([texts[p] for p in new[start : start + TERMS_BATCH]]):
                rows.append(sorted({vocab.setdefault(t, len(vocab)) for t in tokens}))
        indptr, term_ids, vocab = _merged(self._indptr, self._term_ids, keep, rows, vocab)
        kept = np.flatnonzero(keep)
        table = TermTable.__new__(TermTable)
        table.terms_of = self.terms_of
        table._set(
            sorted(vocab, key=vocab.__getitem__), [ids[i] for i in kept] + new, indptr, term_ids
        )
        return table

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
