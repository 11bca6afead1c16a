"""Sentence splitting for abstracts and answers (pure).

Abstracts are full of things that look like sentence ends but are not: "e.g.",
"et al.", "Fig. 2", "2.78x", "U.S.", "vs.", "i.e.", version numbers. A sentence
never ends inside a number, and never right after such an abbreviation.

    >>> split_sentences("We use e.g. ViT-B. It reaches 2.78x speed. Done!")
    ['We use e.g. ViT-B.', 'It reaches 2.78x speed.', 'Done!']
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "e.g", "i.e", "et al", "al", "fig", "figs", "eq", "eqs", "vs", "cf", "etc", "approx",
    "resp", "sec", "ref", "refs", "no", "nos", "dr", "mr", "mrs", "ms", "prof", "st", "inc",
    "incl", "ltd", "jr", "sr", "vol", "pp", "ch", "tab", "def", "thm", "lem", "viz", "ca", "est",
}  # fmt: skip

# A candidate end: . ! or ? (optionally followed by a closing quote/bracket, and
# by citation markers like " [1]" or "[1, 2]"), then whitespace, then the start of
# the next sentence (capital letter, digit, quote, bracket, or a tag such as "</p>":
# the citation checker splits before a tag too, so an extractive quote never spans one).
_END = re.compile(
    r"([.!?][\"'\u201d\u2019)\]]?(?:\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\])*)\s+(?=[\"'\u201c(\[]?[A-Z0-9]|<)"
)
# In an answer, an opening bracket starts the next sentence whatever follows it:
# "(ii) the second point" after a full stop is an enumerated claim of its own.
_END_IN_LINE = re.compile(_END.pattern[: -len("|<)")] + r"|<|[(\[])")


def split_sentences(text: str, keep_lines: bool = False) -> list[str]:
    """Split text into sentences without cutting numbers, abbreviations or markers.

    An abstract's line breaks are only wrapping. With `keep_lines` (an answer, whose
    lines are list items and headings) a line break always ends a sentence, a list
    number opening a line ("1. First point") does not end one, and an enumerator
    after a full stop ("... extreme. (ii) the ...") starts one.

    >>> split_sentences("Steps:\\n1. Train it. Then test.\\n- 2. Ship", keep_lines=True)
    ['Steps:', '1. Train it.', 'Then test.', '- 2. Ship']
    """
    if keep_lines:
        return [s for line in text.splitlines() for s in _split(line, in_line=True)]
    return _split(text, in_line=False)


def _split(text: str, in_line: bool) -> list[str]:
    # An abstract's whitespace is tidied; a line of an answer keeps its own, so that
    # each sentence can be found in the answer as written.
    text = text if in_line else " ".join(text.split())
    if not text.strip():
        return []
    sentences: list[str] = []
    start = 0
    for match in (_END_IN_LINE if in_line else _END).finditer(text):
        end = match.end(1)
        before = text[start:end]
        if _is_false_end(before) or (in_line and _LIST_NUMBER.fullmatch(before.strip())):
            continue
        sentences.append(before.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


_LIST_NUMBER = re.compile(r"[-*\s]*\d+\.")  # "1." or "- 2." opening a list item


def _is_false_end(candidate: str) -> bool:
    """True when the '.' that ends `candidate` belongs to an abbreviation or initial."""
    stripped = re.sub(r"(?:\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\])+$", "", candidate)
    if not stripped.endswith("."):
        return False
    words = stripped[:-1].split()
    if not words:
        return True
    last = words[-1].lower().strip("(\"'")
    if last in _ABBREVIATIONS or (
        len(words) >= 2 and f"{words[-2].lower()} {last}" in _ABBREVIATIONS
    ):
        return True
    # A single capital letter ("J. Smith") or dotted acronym ("U.S.") is an initial.
    return bool(re.fullmatch(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]", words[-1]))
