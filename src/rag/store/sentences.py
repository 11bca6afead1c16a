"""The `<name>_sentences` collection: one row per paper holding its title and abstract
sentences with their vectors (float16, base64) in metadata, for reranking, extractive
answers and the citation check. Rows are fetched by paper id, never searched, so they
sit behind a 1-d placeholder vector: an HNSW index over ~10 sentence vectors per paper
would hold gigabytes in memory at 100k papers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .connection import PAGE, Calls
from .manifest import PLACEHOLDER
from .records import Prepared, decode_vectors, encode_vectors

if TYPE_CHECKING:
    import numpy as np


class Sentences:
    def __init__(self, collection, call: Calls, dim: int, upsert: Callable) -> None:
        self._rows, self._call, self._dim, self._upsert = collection, call, dim, upsert

    def write(self, items: Sequence[Prepared], vectors: np.ndarray) -> None:
        """One row per paper: its sentences and their vectors, in the items' order."""
        row, metas = 0, []
        for item in items:
            n = len(item.sentences)
            metas.append(
                {
                    "sentences": json.dumps(list(item.sentences), ensure_ascii=False),
                    "vectors": encode_vectors(vectors[row : row + n]),
                }
            )
            row += n
        ids = [item.paper.paper_id for item in items]
        self._upsert(self._rows, ids, [PLACEHOLDER] * len(ids), metas, None)

    def read(self, paper_ids: Sequence[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """The stored sentences (title first) of papers, with their unit vectors."""
        out = {}
        ids = list(dict.fromkeys(paper_ids))
        for start in range(0, len(ids), PAGE):
            page = self._call(self._rows.get, ids=ids[start : start + PAGE], include=["metadatas"])
            for paper_id, meta in zip(page["ids"], page["metadatas"], strict=True):
                out[paper_id] = (
                    json.loads(meta["sentences"]),
                    decode_vectors(meta["vectors"], self._dim),
                )
        return out

    def delete(self, paper_ids: Sequence[str]) -> None:
        self._call(self._rows.delete, ids=list(paper_ids))
