"""Word classes shared by question analysis and the answerer (no heavy imports)."""

from __future__ import annotations

# Question and auxiliary words, beside BM25's English stop words: none of them is
# part of a name, and a question in title case capitalises them.
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how is are was were do does did can could "
    "should would will has have had".split()
)


def is_function_word(word: str) -> bool:
    """A stop word or a question word.

    >>> is_function_word("Does"), is_function_word("the"), is_function_word("Roe")
    (True, True, False)
    """
    from bm25s.stopwords import STOPWORDS_EN

    lowered = word.lower()
    return lowered in _QUESTION_WORDS or lowered in STOPWORDS_EN
