"""An answer as plain text for the clipboard: the text with its [n] markers, then
the numbered references. Pure.

    >>> from rag.types import Citation, Hit
    >>> p = Paper.create("Data-free UAPs", "We craft them.", year=2018, arxiv_id="1801.08092")
    >>> a = Answer("q", "They craft them [1].", False, (Citation(1, p, "We craft them."),),
    ...            (Hit(p, 1.0, ""),), "extractive", 0.1)
    >>> print(answer_text(a, {1}))
    They craft them [1].
    <BLANKLINE>
    References
    [1] Data-free UAPs (2018). https://arxiv.org/abs/1801.08092
"""

from __future__ import annotations

import re
from collections.abc import Collection

from rag.types import Answer, Paper

_WEB_LINK = re.compile(r"https?://\S+$", re.IGNORECASE)  # no javascript: or data: links


def reference(n: int, paper: Paper) -> str:
    """One reference line: [n] Title (year). link"""
    line = f"[{n}] {paper.title.rstrip('.')}"
    if paper.year:
        line += f" ({paper.year})"
    line += "."
    link = (paper.link or "").strip()
    if _WEB_LINK.match(link):
        line += f" {link}"
    return line


def answer_text(answer: Answer, numbers: Collection[int]) -> str:
    """The answer's text and a reference for each marker number in `numbers` (the
    markers that point to a paper)."""
    papers = {c.n: c.paper for c in answer.citations}
    for n in numbers:
        papers.setdefault(n, answer.hits[n - 1].paper)
    text = answer.text.strip()
    if not papers:
        return text
    refs = "\n".join(reference(n, papers[n]) for n in sorted(papers))
    return f"{text}\n\nReferences\n{refs}"
