"""Paper -> Chunks, with LlamaIndex's SentenceSplitter (pure: no I/O).

The title is part of every chunk's text, so a chunk from the middle of a long
abstract still says which paper it comes from, to the embedder and to BM25.
"""

from __future__ import annotations

from functools import lru_cache

from .types import Chunk, Paper


@lru_cache(maxsize=4)
def _splitter(chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def chunk_paper(paper: Paper, chunk_size: int = 320, chunk_overlap: int = 48) -> list[Chunk]:
    """Split one paper into chunks whose text starts with the title.

    >>> [c.chunk_id for c in chunk_paper(Paper.create("A title", "One sentence."))]  # doctest: +ELLIPSIS
    ['p_...#0']
    """
    # The title takes part of the budget; keep room for at least a few sentences.
    title_tokens = len(paper.title.split()) * 2
    budget = max(chunk_size - title_tokens, chunk_size // 2)
    pieces = _splitter(budget, min(chunk_overlap, budget // 4)).split_text(paper.abstract)
    pieces = pieces or [""]
    return [
        Chunk(
            chunk_id=f"{paper.paper_id}#{i}",
            paper_id=paper.paper_id,
            index=i,
            text=f"{paper.title}\n{piece}".strip(),
        )
        for i, piece in enumerate(pieces)
    ]
