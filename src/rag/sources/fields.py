"""Cleaning the bibliographic fields that BibTeX, arXiv and tabular sources share:
author lists, years, DOIs and arXiv ids. Pure functions.

Author strings are split by `split_authors`:

1. if the string contains ";", names are separated by ";" (Zotero: "Vaswani, Ashish; Shazeer, Noam");
2. else if it contains " and " or " & ", names are separated by those (BibTeX style);
3. else if it contains ",", the comma is ambiguous: "Vaswani, Ashish" is one person
   written last-name-first, "Ashish Vaswani, Noam Shazeer" is two people. The rule:
   if some comma-separated part is a single word and the number of parts is even,
   the parts are (last, first) pairs; otherwise each part is one full name. So
   "Hinton, Geoffrey E." -> ["Geoffrey E. Hinton"], "LeCun, Bengio, Hinton" -> three
   names, and the two-surname list "Hinton, LeCun" is read as the one name "LeCun Hinton".

In rules 1 and 2 each name written "Last, First" becomes "First Last"; "et al." and
"others" are dropped.
"""

from __future__ import annotations

import re
from typing import Any

_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
# New-style ids (0704.0001, 2002.05709) and old-style ones (hep-th/9901001, math.NT/0406594).
_ARXIV_ID = r"(\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Za-z]{2})?/\d{7})(?:v\d+)?"
_BARE_ARXIV_ID = re.compile(rf"^\s*(?:arxiv:\s*)?{_ARXIV_ID}\s*$", re.IGNORECASE)
_ARXIV_ID_IN_TEXT = re.compile(
    rf"(?:arxiv\.org/(?:abs|pdf)/|arxiv[:.]\s*|10\.48550/arxiv\.){_ARXIV_ID}", re.IGNORECASE
)
_NOT_NAMES = ("et al.", "et al", "others")


def as_text(value: Any) -> str:
    """A value as single-spaced text; '' for None, lists joined by spaces.

    >>> as_text(["cs.CL", " cs.LG"])
    'cs.CL cs.LG'
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # joined, then tidied: [None, None] is ""
        value = " ".join(as_text(item) for item in value)
    return " ".join(str(value).split())


def split_authors(names: str) -> list[str]:
    """Author names from one string, by the rule in the module docstring.

    >>> split_authors("Vaswani, Ashish; Shazeer, Noam")
    ['Ashish Vaswani', 'Noam Shazeer']
    """
    names = as_text(names)
    if not names:
        return []
    if ";" in names:
        parts = [flip_name(part) for part in names.split(";")]
    elif re.search(r"\s(?:and|&)\s", names):
        parts = [flip_name(part) for part in re.split(r"\s+(?:and|&)\s+", names)]
    elif "," in names:
        pieces = [piece.strip() for piece in names.split(",")]
        pairs = len(pieces) % 2 == 0 and any(len(piece.split()) == 1 for piece in pieces)
        if pairs:
            parts = [
                f"{first} {last}" for last, first in zip(pieces[::2], pieces[1::2], strict=True)
            ]
        else:
            parts = pieces
    else:
        parts = [names]
    return [p.strip() for p in parts if p.strip() and p.strip().lower() not in _NOT_NAMES]


def flip_name(name: str) -> str:
    """'Last, First' -> 'First Last'; 'Last, Jr., First' -> 'First Last Jr.'; else unchanged.

    >>> flip_name("Hinton, Geoffrey E.")
    'Geoffrey E. Hinton'
    """
    pieces = [piece.strip() for piece in name.split(",")]
    if len(pieces) == 2:
        return f"{pieces[1]} {pieces[0]}".strip()
    if len(pieces) == 3:
        return f"{pieces[2]} {pieces[0]} {pieces[1]}".strip()
    return name.strip()


def find_year(value: Any) -> int | None:
    """The first plausible year in a value.

    >>> find_year("Mon, 2 Apr 2007 19:18:42 GMT")
    2007
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1500 <= value <= 2099 else None
    match = _YEAR.search(str(value)) if value is not None else None
    return int(match.group(1)) if match else None


def clean_doi(value: str | None) -> str | None:
    """A bare DOI from a DOI, 'doi:' reference or doi.org URL; None if empty.

    >>> clean_doi("https://doi.org/10.1038/nature14539")
    '10.1038/nature14539'
    """
    value = as_text(value)
    if not value:
        return None
    # Some records list several DOIs separated by spaces: keep the first.
    value = _DOI_PREFIX.sub("", value)
    return value.split()[0] if value else None


def arxiv_id_from(value: str | None, bare: bool = True) -> str | None:
    """The arXiv id (without version) in an id field, arXiv URL, arXiv DOI or reference.

    >>> arxiv_id_from("https://arxiv.org/abs/2002.05709v3")
    '2002.05709'

    With bare=False a lone id-shaped string (which may be another archive's) is not enough.
    """
    value = as_text(value)
    if not value:
        return None
    match = (_BARE_ARXIV_ID.match(value) if bare else None) or _ARXIV_ID_IN_TEXT.search(value)
    return match.group(1) if match else None
