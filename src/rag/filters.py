"""Metadata filters: recognised in the question, merged with explicit ones, and
turned into a Chroma `where` clause (pure).

    >>> parse_years("papers on diffusion since 2023")
    (2023, None, 'papers on diffusion')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .authors import AuthorIndex, fold
from .errors import InputError
from .types import Filters, Paper
from .words import is_function_word

_YEAR = r"((?:19[89]|20[0-4])\d)"
_YEAR_PATTERNS: list[tuple[str, str]] = [
    (rf"\b(?:between|from)\s+{_YEAR}\s+(?:and|to|-|–)\s+{_YEAR}\b", "range"),
    (rf"\b{_YEAR}\s*(?:-|–|to)\s*{_YEAR}\b", "range"),
    (rf"\b(?:since|starting(?:\s+in)?|as\s+of)\s+{_YEAR}(?:\s+on(?:wards?)?)?\b", "since"),
    (rf"\bfrom\s+{_YEAR}\s+on(?:wards?)?\b", "since"),
    (rf"\b(?:in\s+or\s+after|no\s+earlier\s+than)\s+{_YEAR}\b", "since"),
    (rf"\bafter\s+{_YEAR}\b", "after"),
    (rf"\b(?:until|through|up\s+to|no\s+later\s+than|in\s+or\s+before)\s+{_YEAR}\b", "until"),
    (rf"\bbefore\s+{_YEAR}\b", "before"),
    # A question that is only a year asks for that year's papers.
    (rf"^\s*{_YEAR}\s*[?.!]*\s*$", "in"),
    # "papers from 2019" are the 2019 papers; "from 2019 on" is a start (above).
    (rf"\b(?:in|during|published\s+in|from(?:\s+the\s+year)?)\s+{_YEAR}\b", "in"),
]
# "papers by X" keeps "papers": what is asked for is a list of papers, and the rest of
# the question still reads as a list question ("Which papers by X study Y?" -> "Which
# papers study Y?").
_AUTHOR_CUE = r"(?:(?:(?:co|first|last|senior)-?)?authored\s+by|written\s+by|by|from|of)"
# Words about authorship left once the names are gone ("what did X co-author with Y:"
# -> "what did co-author with :", "which papers did X write on Y" -> "which papers did
# write on Y"); they are not the topic.
_AUTHORSHIP_LEFTOVER = re.compile(
    r"\b(?:co-?)?author(?:ed|s)?(?:\s+with)?\b|\b(?:with|and|by)\s*(?=[:;,.?!]|$)"
    r"|\b(?:did|has|have|had)\s+(?:write|written|publish(?:ed)?)\b"
    r"|\b(?:wrote|published)\b(?=\s+(?:on|about|in)\b)",
    re.IGNORECASE,
)
_CATEGORY = re.compile(
    r"\b(?:in\s+)?(?:the\s+)?category\s+([A-Za-z][A-Za-z.\-]{0,15})\b|\b(cs\.[A-Z]{2})\b"
)


# A year after "in" is a filter only in a question that asks for papers ("papers in
# 2023", "what did X publish in 2024?"); in a statement or a claim ("... discontinued
# methadone treatment in 2001") it is part of what is asked about.
_ASKS_FOR_PAPERS = re.compile(
    r"\b(?:papers?|works?|articles?|publications?|publish(?:ed)?|wrote|written|authored)\b",
    re.IGNORECASE,
)
# Any other year phrase ("since 2020", "before 2019") is a filter in a request: a
# question or an imperative ("list ...", "show ..."). A declarative sentence is a
# claim to check (a benchmark's claims are), whose years are part of its content:
# "Overdose deaths have risen since 2001."
_REQUEST = re.compile(
    r"\?\s*$|^\W*(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does"
    r"|did|can|could|should|would|will|has|have|had|list|show|find|give|tell|name|any)\b",
    re.IGNORECASE,
)


def parse_years(question: str) -> tuple[int | None, int | None, str]:
    """Year range mentioned in the question, and the question without it.

    >>> parse_years("Patients discontinued methadone treatment in 2001.")[:2]
    (None, None)
    >>> parse_years("Which papers in 2023 study diffusion?")[:2]
    (2023, 2023)
    >>> parse_years("Overdose deaths have risen since 2001.")[:2], parse_years("GANs since 2020?")[:2]
    ((None, None), (2020, None))
    """
    for pattern, kind in _YEAR_PATTERNS:
        match = re.search(pattern, question, flags=re.IGNORECASE)
        if not match:
            continue
        if kind != "in" and not (_ASKS_FOR_PAPERS.search(question) or _REQUEST.search(question)):
            continue
        if kind == "in" and match.start() > 0 and not _ASKS_FOR_PAPERS.search(question):
            continue
        years = [int(y) for y in match.groups() if y]
        rest = _remove(question, match)
        if kind == "range":
            return min(years), max(years), rest
        if kind == "since":
            return years[0], None, rest
        if kind == "after":
            return years[0] + 1, None, rest
        if kind == "until":
            return None, years[0], rest
        if kind == "before":
            return None, years[0] - 1, rest
        return years[0], years[0], rest
    return None, None, question


def parse_authors(question: str, index: AuthorIndex) -> tuple[tuple[str, ...], str]:
    """Known author names in the question, and the question without them (and their cue)."""
    names: list[str] = []
    rest = question
    for name, folded in index.find_in(question):
        names.append(name)
        words = [re.escape(w) for w in re.split(r"[\s.\-]+", folded) if w]
        pattern = r"[\s.\-]+".join(words)
        name_re = re.compile(rf"(?:\b{_AUTHOR_CUE}\s+)?{pattern}(?:'s)?", re.IGNORECASE)
        if not name_re.search(rest):
            rest = fold(rest)  # the name was written with accents: match it folded
        rest = name_re.sub(" ", rest, count=1)
    rest = re.sub(r"\b(and|,)\s*(?=\b(?:and|,)\b)", " ", rest)
    if names:
        rest = _AUTHORSHIP_LEFTOVER.sub(" ", rest)
        rest = re.sub(r"\s+([:;,.?!])", r"\1", rest)  # no space left before punctuation
    return tuple(names), " ".join(rest.split())


# A person named where a question names authors: after "by" ("papers by Jane Roe"),
# before "'s" with a word for work ("Jane Roe's papers"), as the subject of a verb of
# research activity ("what has Jane Roe worked on?", "what does Jane Roe study?"), or
# as the whole question. A bare "work" is left out of the verbs: "how does Batch
# Normalization work?" asks about a method.
_NAME_WORDS = r"[A-Z][\w'\-]+(?:\s+(?:[A-Z]\.|[A-Z][\w'\-]+|van|von|de|der|di|da)){1,3}"
_ACTIVITY = (
    r"(?:been\s+)?(?:work(?:s|ed|ing)?\s+on|stud(?:y|ies|ied|ying)|research(?:es|ed|ing)?"
    r"|publish(?:es|ed|ing)?|wr(?:ite|ites|ote|itten|iting)|authored|focus(?:es|ed)?\s+on)\b"
)
_PERSON = re.compile(
    rf"\b(?:(?:co-?|first-|last-)?authored\s+by|written\s+by|by)\s+(?P<a>{_NAME_WORDS})"
    rf"|(?P<b>{_NAME_WORDS})'s\s+(?:work|papers?|research|publications?|articles?)\b"
    rf"|^\s*(?P<c>{_NAME_WORDS})\s*[?.!]*\s*$"
    rf"|\b(?:has|have|had|does|do|did|is|was)\s+(?P<d>{_NAME_WORDS})\s+{_ACTIVITY}"
)


def unknown_person(rest: str) -> str | None:
    """A person's name the question asks about that no paper lists (checked after the
    known names were taken out), or None.

    >>> unknown_person("papers by Jane Roe"), unknown_person("Jane Roe's work on GANs")
    ('Jane Roe', 'Jane Roe')
    >>> unknown_person("What has Jane Roe worked on?"), unknown_person("What does Jane Roe study?")
    ('Jane Roe', 'Jane Roe')
    >>> unknown_person("What is SGD by Example?"), unknown_person("How does Layer Norm work?")
    (None, None)
    >>> unknown_person("What Is Grokking?") is None
    True
    """
    match = _PERSON.search(rest)
    if not match:
        return None
    name = match.group("a") or match.group("b") or match.group("c") or match.group("d")
    # A person's name holds no function word: "What Is Grokking?" is a question.
    return None if any(is_function_word(w) for w in name.split()) else name


def parse_categories(question: str, known: Iterable[str]) -> tuple[tuple[str, ...], str]:
    known_upper = {k.upper(): k for k in known}
    found: list[str] = []
    rest = question
    for match in _CATEGORY.finditer(question):
        raw = match.group(1) or match.group(2)
        code = raw.split(".")[-1].upper() if raw.lower().startswith("cs.") else raw.upper()
        if code in known_upper or raw.upper() in known_upper:
            found.append(known_upper.get(code) or known_upper[raw.upper()])
            rest = rest.replace(match.group(0), " ")
    return tuple(found), " ".join(rest.split())


def from_question(
    question: str, index: AuthorIndex, categories: Iterable[str]
) -> tuple[Filters, str]:
    """Filters stated in the question, and the topical rest of the question."""
    since, until, rest = parse_years(question)
    authors, rest = parse_authors(rest, index)
    cats, rest = parse_categories(rest, categories)
    return Filters(authors=authors, since=since, until=until, categories=cats), rest


def combine(explicit: Filters, recognised: Filters) -> Filters:
    """Explicit filters win field by field; recognised ones fill the gaps."""
    combined = Filters(
        authors=explicit.authors or recognised.authors,
        since=explicit.since if explicit.since is not None else recognised.since,
        until=explicit.until if explicit.until is not None else recognised.until,
        categories=explicit.categories or recognised.categories,
        include_undated=explicit.include_undated,
    )
    check(combined)
    return combined


def check(filters: Filters) -> None:
    if filters.since is not None and filters.until is not None and filters.since > filters.until:
        raise InputError(
            f"year range {filters.since}-{filters.until} is inverted: the first year must "
            "not be after the last"
        )


def to_where(filters: Filters, paper_ids: set[str] | None) -> dict[str, Any] | None:
    """A Chroma where clause; paper_ids restricts to resolved author papers."""
    clauses: list[dict[str, Any]] = []
    if paper_ids is not None:
        clauses.append({"paper_id": {"$in": sorted(paper_ids)}})
    # A missing year cannot be asked for in a where clause: with undated papers
    # included, the year bounds are left to paper_ids (the engine resolves them).
    if filters.since is not None and not filters.include_undated:
        clauses.append({"year": {"$gte": filters.since}})
    if filters.until is not None and not filters.include_undated:
        clauses.append({"year": {"$lte": filters.until}})
    if filters.categories:
        clauses.append({"category": {"$in": list(filters.categories)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def allows(filters: Filters, paper: Paper, paper_ids: set[str] | None) -> bool:
    """The same predicate as to_where, for in-memory candidates (keyword search)."""
    if paper_ids is not None and paper.paper_id not in paper_ids:
        return False
    if paper.year is None:
        if filters.has_years and not filters.include_undated:
            return False
    elif (filters.since is not None and paper.year < filters.since) or (
        filters.until is not None and paper.year > filters.until
    ):
        return False
    if filters.categories and paper.category not in filters.categories:
        return False
    return True


def _remove(text: str, match: re.Match) -> str:
    return " ".join((text[: match.start()] + " " + text[match.end() :]).split())
