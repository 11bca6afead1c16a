"""Daily-papers page: blank-line separated title and abstract blocks under page chrome.

    new
    Get trending papers in your email inbox!
    Subscribe
    byAK and the research community
    Mar 11                      <- the page's date, not the papers' publication date
    Q-VLM: Post-training Quantization for Large Vision-Language Models
    In this paper, we propose ...

Every line above stands in a block of its own. The page date says when the list
was shown, not when a paper was published, so no paper gets a date or year from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..types import Paper
from . import ParseReport
from .search_results import pair_titles_with_abstracts
from .text import iter_blocks

NAME = "daily-papers page"

BYLINE = "byAK and the research community"
CHROME_RE = re.compile(
    rf"new|Subscribe|{re.escape(BYLINE)}|Daily Papers"
    r"|Get trending papers in your email inbox\b.*"
)
PAGE_DATE_RE = re.compile(
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(?:, \d{4})?"
)


def detect(path: Path, head: str) -> bool:
    """The daily page's byline, or a stand-alone 'Subscribe' between blank lines."""
    lines = [line.strip() for line in head.splitlines()[:40]]
    if BYLINE in lines:
        return True
    return "Subscribe" in lines and any(
        CHROME_RE.fullmatch(line) for line in lines if line != "Subscribe"
    )


def is_chrome(block: str) -> bool:
    """Page furniture that is never a paper: buttons, the byline and the page date.

    >>> [is_chrome(b) for b in ("Subscribe", "Mar 11", "Q-VLM: Post-training Quantization")]
    [True, True, False]
    """
    return bool(CHROME_RE.fullmatch(block) or PAGE_DATE_RE.fullmatch(block))


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    """Papers in page order, with neither authors nor dates."""
    blocks = ((number, block) for number, block in iter_blocks(path) if not is_chrome(block))
    for _, title, abstract in pair_titles_with_abstracts(blocks, path, report):
        yield Paper.create(title, abstract, sources=(path.name,))
