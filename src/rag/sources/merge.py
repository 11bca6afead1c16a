"""De-duplication across files: one Paper per work, with the best of every copy.

Copies are the same paper when they share a DOI, an arXiv id or a normalised title
(a union-find over those keys, so A~B by DOI and B~C by title puts A, B, C together),
unless their DOIs or arXiv ids disagree. The merged paper keeps the first copy's
title and id, the union of sources and authors, the first non-empty metadata, and
the cleanest abstract (see `choose_abstract`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from ..types import Paper, normalise_title, unaccented

METADATA_FIELDS = ("affiliations", "category", "date", "year", "url", "doi", "arxiv_id", "venue")

# Signs that body text was scraped onto the abstract. Abstracts almost never cite.
CITATION_RES = (
    re.compile(r"\[[1-9]\d*(?:\s*[,–-]\s*[1-9]\d*)*\]"),  # [1], [2, 3], [4-6]; not [0,1]
    re.compile(r"\([^()]*\bet al\.?,? (?:19|20)\d\d[a-z]?[^()]*\)"),  # (Smith et al., 2020; ...)
    re.compile(
        r"\([A-Z][\w-]+(?: (?:and|&) [A-Z][\w-]+)?,? (?:19|20)\d\d[a-z]?\)"
    ),  # (Smith, 2020)
)
HEADING_RE = re.compile(
    r"(?:^|\s)\d+(?:\.\d+)*\.?\s+(?:Introduction|Related Work|Background|Preliminaries)\b"
    r"|(?:^|[.!?]\s+)(?:INTRODUCTION|Introduction)\s+[A-Z]"
)
SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
MIN_ANCHOR_CHARS = 40  # a sentence this long found in two copies is the same sentence


def merge_papers(papers: Iterable[Paper]) -> list[Paper]:
    """One paper per group of copies, in order of first appearance.

    >>> a = Paper.create("Deep Nets", "Short.", sources=("b.txt",), year=2020)
    >>> b = Paper.create("deep nets!", "Short.", sources=("a.txt",), authors=("Ann Lee",))
    >>> [(p.sources, p.authors, p.year) for p in merge_papers([a, b])]
    [(('a.txt', 'b.txt'), ('Ann Lee',), 2020)]
    """
    papers = list(papers)
    groups = _group(papers)
    return [merge_copies([papers[i] for i in members]) for members in groups]


def merge_copies(copies: Sequence[Paper]) -> Paper:
    """Combine copies of one paper; the first copy gives the title and paper_id."""
    first = copies[0]
    fields: dict[str, object] = {
        "abstract": choose_abstract([copy.abstract for copy in copies]),
        "authors": merge_authors([copy.authors for copy in copies]),
        "sources": tuple(sorted({source for copy in copies for source in copy.sources})),
    }
    for name in METADATA_FIELDS:
        fields[name] = next(
            (getattr(c, name) for c in copies if getattr(c, name)), getattr(first, name)
        )
    return dataclasses.replace(first, **fields)


def paper_keys(paper: Paper) -> list[tuple[str, str]]:
    """The identities a copy can be matched by, strongest first."""
    keys = []
    if paper.doi:
        keys.append(("doi", _doi(paper.doi)))
    if paper.arxiv_id:
        keys.append(("arxiv", _arxiv(paper.arxiv_id)))
    title = normalise_title(paper.title)
    if title:
        keys.append(("title", title))
    return keys


def choose_abstract(abstracts: Sequence[str]) -> str:
    """The cleanest of several copies of one abstract.

    Longest is wrong: a scraped copy can have a passage missing and the paper's
    introduction glued on. Copies are ranked by
      1. dirt: citation markers and section headings (body text, not abstract), plus
         one if the copy runs on past the point where another copy ends;
      2. agreement: how many other copies equal or contain it;
      3. first appearance.

    >>> choose_abstract(["We show X. 1 Introduction Prior work [3] did Y.", "We show X."])
    'We show X.'
    """
    texts = list(dict.fromkeys(" ".join(a.split()) for a in abstracts if a.strip()))
    if len(texts) <= 1:
        return texts[0] if texts else ""

    def rank(index: int) -> tuple[int, int, int]:
        text = texts[index]
        others = texts[:index] + texts[index + 1 :]
        dirt = noise_markers(text) + any(_runs_past_end(text, other) for other in others)
        agreement = sum(1 for other in abstracts if text in " ".join(other.split())) - 1
        return dirt, -agreement, index

    return texts[min(range(len(texts)), key=rank)]


def noise_markers(text: str) -> int:
    """How many citations and section headings a text contains.

    >>> noise_markers("As shown (Vaswani et al., 2017; Devlin et al., 2019) and in [12]. 1 Introduction")
    3
    """
    return sum(len(regex.findall(text)) for regex in CITATION_RES) + len(HEADING_RE.findall(text))


def merge_authors(author_lists: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The longest list, then anyone it lacks from the other lists.

    Listing pages truncate authors ("et al.") and a collaborator page names only its
    owner, so every list is a part of the true one; none is to be dropped.

    >>> merge_authors([("Yaodong Yu",), ("Wojciech Zaremba", "Boaz Barak")])
    ('Wojciech Zaremba', 'Boaz Barak', 'Yaodong Yu')
    """
    if not any(author_lists):
        return ()
    longest = max(author_lists, key=len)
    merged = list(longest)
    seen = {_person_key(name) for name in merged}
    for names in author_lists:
        for name in names:
            if _person_key(name) not in seen:
                seen.add(_person_key(name))
                merged.append(name)
    return tuple(merged)


def _group(papers: Sequence[Paper]) -> list[list[int]]:
    parent = list(range(len(papers)))
    ids: list[dict[str, set[str]]] = [_strong_ids(p) for p in papers]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, paper in enumerate(papers):
        for key in paper_keys(paper):
            if key not in owner:
                owner[key] = i
                continue
            a, b = find(owner[key]), find(i)
            if a == b or (key[0] == "title" and _conflict(ids[a], ids[b])):
                continue  # same title, different DOI or arXiv id: two works
            parent[max(a, b)] = min(a, b)  # the earliest copy stays the root
            for name in ids[min(a, b)]:
                ids[min(a, b)][name] |= ids[max(a, b)][name]
    groups: dict[int, list[int]] = {}
    for i in range(len(papers)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _strong_ids(paper: Paper) -> dict[str, set[str]]:
    return {
        "doi": {_doi(paper.doi)} if paper.doi else set(),
        "arxiv": {_arxiv(paper.arxiv_id)} if paper.arxiv_id else set(),
    }


def _conflict(a: dict[str, set[str]], b: dict[str, set[str]]) -> bool:
    return any(a[name] and b[name] and not a[name] & b[name] for name in a)


def _doi(doi: str) -> str:
    return re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", doi.strip(), flags=re.I).lower()


def _arxiv(arxiv_id: str) -> str:
    """'arXiv:2306.01129v2' -> '2306.01129': versions are the same work."""
    return re.sub(r"v\d+$", "", re.sub(r"^arxiv:", "", arxiv_id.strip(), flags=re.I))


def _person_key(name: str) -> tuple[str, str]:
    """(surname, first initial) without accents: 'Yaodong Yu' -> ('yu', 'y')."""
    tokens = unaccented(name).split()
    return (tokens[-1], tokens[0][0]) if tokens else ("", "")


def _runs_past_end(text: str, other: str) -> bool:
    """Whether `text` holds the final sentence of `other` and goes on after it."""
    sentences = SENTENCE_END_RE.split(other.strip())
    last = sentences[-1] if sentences else ""
    if len(last) < MIN_ANCHOR_CHARS or last not in text:
        return False
    rest = text[text.index(last) + len(last) :]
    return len(rest.strip()) >= MIN_ANCHOR_CHARS
