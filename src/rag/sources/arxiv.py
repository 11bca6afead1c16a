"""The arXiv metadata snapshot: one JSON object per line, streamed.

The public snapshot (arxiv-metadata-oai-snapshot.json, several GB) has lines like

    {"id": "0704.0001", "title": "...", "authors": "C. Bal\\'azs, E. L. Berger",
     "authors_parsed": [["Balázs", "C.", ""], ...], "abstract": "...",
     "categories": "hep-ph math.CO", "doi": "...", "journal-ref": "...",
     "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}],
     "update_date": "2008-11-13"}

so the file is read one line at a time and never held in memory. The paper's year is
that of its first version (when it was published), not `update_date` (when the
metadata last changed), which is only the fallback.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ..errors import ParseError
from ..types import Paper
from . import ParseReport
from .fields import arxiv_id_from, as_text, clean_doi, find_year, split_authors
from .tabular import first_json_object, json_records

NAME = "arXiv metadata JSON lines"
# A generic JSON-lines file may have "id" and "abstract" too; these keys are arXiv's own.
ARXIV_KEYS = ("authors_parsed", "versions", "categories")


def is_arxiv_record(record: Any) -> bool:
    """Whether a decoded JSON value looks like a line of the arXiv snapshot."""
    return (
        isinstance(record, dict)
        and "id" in record
        and "abstract" in record
        and any(key in record for key in ARXIV_KEYS)
    )


def detect(path: Path, head: str) -> bool:
    """Any file whose first JSON line is an arXiv record; the extension is not required."""
    return is_arxiv_record(first_json_object(path, head))


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    for number, record in json_records(path, report):
        paper = record_to_paper(record, path.name, report, number, str(path))
        if paper is not None:
            yield paper


def record_to_paper(
    record: dict[str, Any], source: str, report: ParseReport, line: int, path: str
) -> Paper | None:
    """One snapshot record as a Paper; None (and a note in `report`) if unusable."""
    title = as_text(record.get("title"))
    abstract = as_text(record.get("abstract"))
    arxiv_id = arxiv_id_from(as_text(record.get("id")))
    if not title:
        report.problems.append(ParseError(path, line, "record has no title"))
        return None
    if not abstract:
        report.skipped.append(title)
        return None
    created = _first_version_date(record.get("versions"))
    categories = as_text(record.get("categories")).split()
    return Paper.create(
        title,
        abstract,
        authors=_authors(record),
        category=categories[0] if categories else None,
        date=created or as_text(record.get("update_date")) or None,
        year=find_year(created) or find_year(as_text(record.get("update_date"))),
        sources=(source,),
        doi=clean_doi(as_text(record.get("doi"))),
        arxiv_id=arxiv_id,
        venue=as_text(record.get("journal-ref")) or None,
    )


def _authors(record: dict[str, Any]) -> list[str]:
    """'First Last Suffix' from authors_parsed ([last, first, suffix]), else the string."""
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for parts in parsed:
            if isinstance(parts, list) and parts:
                last, first, suffix = ([str(p).strip() for p in parts] + ["", ""])[:3]
                names.append(" ".join(p for p in (first, last, suffix) if p))
        if names:
            return names
    return split_authors(as_text(record.get("authors")))


def _first_version_date(versions: Any) -> str | None:
    """ISO date of v1: 'Mon, 2 Apr 2007 19:18:42 GMT' -> '2007-04-02'."""
    if not isinstance(versions, list) or not versions or not isinstance(versions[0], dict):
        return None
    created = as_text(versions[0].get("created"))
    try:
        return parsedate_to_datetime(created).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return created or None
