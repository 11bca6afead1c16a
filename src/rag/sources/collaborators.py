"""Collaborating-authors page: one author's papers as blank-line separated blocks.

    Goto
    Collaborating Authors
     Yu, Yaodong
    <title>
    arXiv.org Artificial Intelligence      <- where the paper appeared, with its subject
    <abstract>

The header names the page's owner ("Last, First"). The page lists the papers the
owner wrote with collaborators, so the owner is recorded as an author of each one
(the only author the page gives).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import ParseError
from ..types import Paper
from . import ParseReport
from .search_results import looks_like_title
from .text import iter_blocks

NAME = "collaborating-authors page"

PAGE_TITLE = "Collaborating Authors"
CHROME = frozenset({"Goto", PAGE_TITLE})
SOURCE_RE = re.compile(r"(?P<site>[\w-]+\.(?:org|com|net|io))\s+(?P<subject>[A-Z][\w ,&-]*)")
SITES = {"arXiv.org": "arXiv"}
# arXiv's own subject names -> the short category codes the profile listing uses.
ARXIV_SUBJECTS = {
    "Artificial Intelligence": "AI",
    "Machine Learning": "LG",
    "Computer Vision and Pattern Recognition": "CV",
    "Computation and Language": "CL",
    "Optimization and Control": "OC",
    "Robotics": "RO",
    "Cryptography and Security": "CR",
    "Neural and Evolutionary Computing": "NE",
    "Information Retrieval": "IR",
}


def detect(path: Path, head: str) -> bool:
    """The page title 'Collaborating Authors' is among the first lines."""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    return PAGE_TITLE in lines[:4]


def owner_name(text: str) -> str:
    """'Yu, Yaodong' -> 'Yaodong Yu'.

    >>> owner_name(" Yu, Yaodong")
    'Yaodong Yu'
    """
    last, comma, first = text.strip().partition(",")
    return f"{first.strip()} {last.strip()}" if comma else text.strip()


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    """Papers in page order, each with the page owner as author."""
    owner: str | None = None
    expect_owner = False
    title: tuple[int, str] | None = None
    source: re.Match[str] | None = None
    for number, block in iter_blocks(path):
        if block in CHROME:
            expect_owner = block == PAGE_TITLE
            continue
        if expect_owner:
            owner, expect_owner = owner_name(block), False
            continue
        if title is None:
            if looks_like_title(block):
                title, source = (number, block), None
            else:
                report.problems.append(ParseError(str(path), number, "text without a title"))
        elif source is None and SOURCE_RE.fullmatch(block):
            source = SOURCE_RE.fullmatch(block)
        elif looks_like_title(block):
            report.skipped.append(title[1])  # the next paper's title: this one had no abstract
            title, source = (number, block), None
        else:
            yield _paper(path, title[1], block, owner, source)
            title, source = None, None
    if title is not None:
        report.skipped.append(title[1])


def _paper(
    path: Path, title: str, abstract: str, owner: str | None, source: re.Match[str] | None
) -> Paper:
    site = source["site"] if source else None
    subject = source["subject"].strip() if source else None
    return Paper.create(
        title,
        abstract,
        authors=(owner,) if owner else (),
        category=ARXIV_SUBJECTS.get(subject or ""),
        venue=SITES.get(site or "", site),
        sources=(path.name,),
    )
