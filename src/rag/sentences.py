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
    "resp", "sec", "ref", "refs", "no", "dr", "mr", "ms", "prof", "st", "inc", "ltd",
    "jr", "sr", "vol", "pp", "ch", "tab", "def", "thm", "lem", "viz", "ca", "est",
}  # fmt: skip

# A candidate end: . ! or ? (optionally followed by a closing quote/bracket, and
# by citation markers like " [1]" or "[1, 2]"), then whitespace, then the start of
# the next sentence (capital letter, digit, quote, bracket, or a tag such as "</p>":
# the citation checker splits before a tag too, so an extractive quote never spans one).
_END = re.compile(
    r"([.!?][\"'\u201d\u2019)\]]?(?:\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\])*)\s+(?=[\"'\u201c(\[]?[A-Z0-9]|<)"
)


def split_sentences(text: str) -> list[str]:
    """Split text into sentences without cutting numbers, abbreviations or markers."""
    text = " ".join(text.split())
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        end = match.end(1)
        before = text[start:end]
        if _is_false_end(before):
            continue
        sentences.append(before.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


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
