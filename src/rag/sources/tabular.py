"""Generic tables of papers: CSV/TSV with a header row, or JSON lines; streamed row by row.

Required columns are `title` and `abstract`; optional ones are `authors`, `year`
(else taken from `date`), `url`, `doi`, `arxiv_id`, `categories` (the first one is
kept) and `venue`. Header names are matched case-insensitively, ignoring spaces and
punctuation, and common aliases are accepted, among them the columns of Zotero's
CSV export ("Title", "Abstract Note", "Author", "Publication Year", "DOI", "Url",
"Publication Title"). Authors are a JSON list or one string split by the rule in
`fields.split_authors` ("Last, First; Last, First", "A and B", "First Last, First Last").
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ParseError, SourceError
from ..types import Paper
from . import ParseReport
from .fields import arxiv_id_from, as_text, clean_doi, find_year, flip_name, split_authors
from .text import iter_lines, iter_numbered_lines

NAME = "CSV/TSV or JSON lines with title and abstract columns"
CSV_EXTENSIONS = (".csv", ".tsv")
JSON_EXTENSIONS = (".jsonl", ".ndjson", ".json")
COLUMNS = "title, abstract, authors, year, url, doi, arxiv_id, categories"
MISSING_COLUMN = "no '{}' column; expected columns: " + COLUMNS
MISSING_FIELD = "no 'title' field in the first record; expected fields: " + COLUMNS

# Normalised header name (lower case, letters and digits only) -> field.
ALIASES = {
    "title": "title",
    "papertitle": "title",
    "articletitle": "title",
    "abstract": "abstract",
    "abstractnote": "abstract",  # Zotero
    "summary": "abstract",
    "authors": "authors",
    "author": "authors",  # Zotero
    "creators": "authors",
    "year": "year",
    "publicationyear": "year",  # Zotero
    "pubyear": "year",
    "date": "date",
    "publicationdate": "date",
    "published": "date",
    "url": "url",
    "link": "url",
    "doi": "doi",
    "arxivid": "arxiv_id",
    "arxiv": "arxiv_id",
    "eprint": "arxiv_id",
    "categories": "categories",
    "category": "categories",
    "primarycategory": "categories",
    "venue": "venue",
    "journal": "venue",
    "publicationtitle": "venue",  # Zotero
    "booktitle": "venue",
}


def detect(path: Path, head: str) -> bool:
    """CSV/TSV and JSON lines by extension, or any file whose first line names
    both a title and an abstract column (a JSON object or a delimited header)."""
    suffix = path.suffix.lower()
    if suffix in CSV_EXTENSIONS or suffix in (".jsonl", ".ndjson"):
        return True
    first = first_json_object(path, head)
    if first is not None:
        return suffix == ".json" or {"title", "abstract"} <= set(columns_of(list(first)))
    header = next((line for line in head.split("\n") if line.strip()), "")
    delimiter = _delimiter(header)
    if delimiter not in header:
        return False
    return {"title", "abstract"} <= set(columns_of(next(csv.reader([header], delimiter=delimiter))))


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    suffix = path.suffix.lower()
    if suffix in JSON_EXTENSIONS:
        return _parse_jsonl(path, report)
    if suffix in CSV_EXTENSIONS or first_json_object(path, "") is None:
        return _parse_csv(path, report)
    return _parse_jsonl(path, report)


def columns_of(header: list[str]) -> dict[str, int]:
    """Canonical field -> position of the first header name that means it.

    >>> columns_of(["Key", "Title", "Abstract Note"])
    {'title': 1, 'abstract': 2}
    """
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        field = ALIASES.get(re.sub(r"[\W_]+", "", str(name).lower()))
        if field and field not in columns:
            columns[field] = index
    return columns


def _parse_csv(path: Path, report: ParseReport) -> Iterator[Paper]:
    lines = iter_lines(path)
    header_number, header_line = 0, ""
    for line in lines:  # the first non-blank line is the header
        header_number += 1
        if line.strip():
            header_line = line
            break
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _delimiter(header_line)
    columns = columns_of(next(csv.reader([header_line], delimiter=delimiter)))
    _require_columns(path, columns)
    # The csv module needs the line endings back to keep newlines in quoted fields.
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter)
    while True:
        start = header_number + reader.line_num + 1  # 1-based line where the row begins
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.problems.append(ParseError(str(path), start, f"malformed CSV row ({error})"))
            continue
        if any(cell.strip() for cell in row):
            record = {field: row[i] for field, i in columns.items() if i < len(row)}
            paper = row_to_paper(record, path, report, start)
            if paper is not None:
                yield paper


def _parse_jsonl(path: Path, report: ParseReport) -> Iterator[Paper]:
    checked = False
    for number, record in json_records(path, report):
        keys = list(record)
        columns = columns_of(keys)
        # Records may omit empty keys, so only a first record with neither a title nor
        # an abstract means this is not a file of papers.
        if not checked and not {"title", "abstract"} & set(columns):
            raise SourceError(str(path), MISSING_FIELD)
        checked = True
        fields = {field: record[keys[i]] for field, i in columns.items()}
        paper = row_to_paper(fields, path, report, number)
        if paper is not None:
            yield paper


def json_records(path: Path, report: ParseReport) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each JSON-object line, streamed; bad lines go to `report`."""
    for number, line in iter_numbered_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problem = f"not valid JSON ({error.msg}, column {error.colno})"
            report.problems.append(ParseError(str(path), number, problem))
            continue
        except RecursionError:  # json's decoder recurses once per nesting level
            report.problems.append(ParseError(str(path), number, "JSON nested too deeply"))
            continue
        if isinstance(record, dict):
            yield number, record
        else:
            report.problems.append(ParseError(str(path), number, "expected a JSON object"))


def row_to_paper(
    record: dict[str, Any], path: Path, report: ParseReport, line: int
) -> Paper | None:
    """One row keyed by canonical field as a Paper; None (noted in `report`) if unusable."""
    title, abstract = as_text(record.get("title")), as_text(record.get("abstract"))
    if not title:
        if abstract:
            report.problems.append(
                ParseError(str(path), line, "entry has an abstract but no title")
            )
        return None
    if not abstract:
        report.skipped.append(title)
        return None
    authors = record.get("authors")
    url = as_text(record.get("url")) or None
    doi = clean_doi(as_text(record.get("doi")))
    categories = re.split(r"[\s,;]+", as_text(record.get("categories")))
    return Paper.create(
        title,
        abstract,
        authors=[flip_name(as_text(a)) for a in authors if as_text(a)]
        if isinstance(authors, list)
        else split_authors(as_text(authors)),
        category=categories[0] or None,
        date=as_text(record.get("date")) or None,
        year=find_year(record.get("year")) or find_year(record.get("date")),
        sources=(path.name,),
        url=url,
        doi=doi,
        arxiv_id=arxiv_id_from(as_text(record.get("arxiv_id")))
        or arxiv_id_from(url, bare=False)
        or arxiv_id_from(doi, bare=False),
        venue=as_text(record.get("venue")) or None,
    )


def first_json_object(path: Path, head: str) -> dict[str, Any] | None:
    """The first non-blank line decoded as a JSON object, else None.

    Reads that line from the file when `head` is empty or ends inside it (a long
    first record, e.g. an arXiv paper with thousands of authors).
    """
    lines = head.split("\n")
    line = next((candidate for candidate in lines[:-1] if candidate.strip()), None)
    if line is None:
        if head.strip() and not lines[-1].lstrip().startswith("{"):
            return None
        try:
            line = next((candidate for candidate in iter_lines(path) if candidate.strip()), "")
        except SourceError:
            return None
    if not line.lstrip().startswith("{"):
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def _require_columns(path: Path, columns: dict[str, int]) -> None:
    for required in ("title", "abstract"):
        if required not in columns:
            raise SourceError(str(path), MISSING_COLUMN.format(required))


def _delimiter(header: str) -> str:
    """The most frequent of comma, tab and semicolon in a header line."""
    return max((",", "\t", ";"), key=header.count)
