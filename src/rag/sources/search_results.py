"""Search-results page: a title line, then its abstract line, repeated.

    Get trending papers in your email inbox once a day!
    Get trending papers in your email inbox!
    SubscribeUnderstanding Certified Training with Interval Bound Propagation
    As robustness verification methods are becoming more precise, ...

The scrape glued the "Subscribe" button to the first title.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import ParseError
from ..types import Paper
from . import ParseReport
from .text import iter_numbered_lines

NAME = "search-results page"

CHROME_RE = re.compile(r"Get trending papers in your email inbox\b.*|Subscribe|new")
# The button label glued to a title; "Subscriber churn ..." is a title, not a button.
GLUED_SUBSCRIBE_RE = re.compile(r"^Subscribe(?=[^\sa-z])")
MAX_TITLE_CHARS = 300  # the longest title in the bundled pages has 168; abstracts 475+


def detect(path: Path, head: str) -> bool:
    """Page chrome at the top and the 'Subscribe' button glued to the first title."""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    chrome = [i for i, line in enumerate(lines[:4]) if CHROME_RE.fullmatch(line)]
    return bool(chrome) and any(GLUED_SUBSCRIBE_RE.match(line) for line in lines[:6])


def looks_like_title(text: str) -> bool:
    """Short and without a closing full stop; abstracts are long or end with one.

    >>> looks_like_title("Do Input Gradients Highlight Discriminative Features?")
    True
    """
    return len(text) <= MAX_TITLE_CHARS and not text.rstrip().endswith(".")


def pair_titles_with_abstracts(
    items: Iterable[tuple[int, str]], path: Path, report: ParseReport
) -> Iterator[tuple[int, str, str]]:
    """(line, title, abstract) from alternating title and abstract items.

    A title followed by another title had no abstract and is reported as skipped;
    an abstract without a title before it is reported as a problem.
    """
    title: tuple[int, str] | None = None
    for number, text in items:
        if title is None:
            if looks_like_title(text):
                title = (number, text)
            else:
                report.problems.append(ParseError(str(path), number, "abstract without a title"))
        elif looks_like_title(text):
            report.skipped.append(title[1])
            title = (number, text)
        else:
            yield title[0], title[1], text
            title = None
    if title is not None:
        report.skipped.append(title[1])


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    """Papers in page order; search results carry no authors or dates."""
    for _, title, abstract in pair_titles_with_abstracts(_content_lines(path), path, report):
        yield Paper.create(title, abstract, sources=(path.name,))


def _content_lines(path: Path) -> Iterator[tuple[int, str]]:
    first = True
    for number, line in iter_numbered_lines(path):
        text = line.strip()
        if first:  # only the button above the results is glued to a title
            text = GLUED_SUBSCRIBE_RE.sub("", text)
        if text and not CHROME_RE.fullmatch(text):
            first = False
            yield number, text
