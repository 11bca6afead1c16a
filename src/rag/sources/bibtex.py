"""BibTeX files as exported by Zotero, Mendeley, JabRef or Google Scholar.

bibtexparser (v2) splits the file into entries, resolves @string macros and reports
malformed entries with their line; this module turns each entry into a Paper:

- authors: "Last, First and First Last and {Braced Corporate Name}" -> "First Last", ...
- LaTeX in titles, abstracts, names and venues becomes text: {\\"u} -> ü, \\& -> &,
  {GPT} -> GPT, --- -> —. Identifier fields (url, doi, eprint) are left as written.
- the arXiv id comes from eprint (archivePrefix/eprinttype arXiv), Mendeley's arxivId,
  an arxiv.org URL, an arXiv DOI, or a journal/note such as "arXiv preprint arXiv:1412.6980".

The whole file is parsed at once (bibtexparser has no streaming API); exports of even
tens of thousands of entries are a few tens of MB.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ParseError, SourceError
from ..types import Paper
from . import ParseReport
from .fields import arxiv_id_from, as_text, clean_doi, find_year
from .text import read_text

NAME = "BibTeX (.bib)"
EXTENSIONS = (".bib", ".bibtex")
# An entry's opening line: "@article{key," at the start of a line.
_ENTRY_START = re.compile(r"^[ \t]*@[ \t]*([A-Za-z]+)[ \t]*[{(][ \t]*[^\s,{}()]+[ \t]*,", re.M)
_NOT_ENTRIES = ("string", "preamble", "comment")
# Characters after which pylatexenc has something to do; other values skip it (fast path).
_LATEX_MARKS = re.compile(r"[\\{}~$]|--|``|''")
# In a BibTeX value "%" is a literal percent sign, but to LaTeX it starts a comment.
_BARE_PERCENT = re.compile(r"(?<!\\)%")
# A word ending in a control word or a lone backslash ("\\LaTeX", "\\c") takes the next word.
_ENDS_IN_COMMAND = re.compile(r"\\(?:[A-Za-z]+)?$")
# pylatexenc takes ~0.2 ms per word with markup and recurses once per brace level, so
# a value longer than any real abstract (a few thousand characters), or nested deeper
# than Python's stack allows, gets the plain fallback `strip_latex` instead.
MAX_LATEX_CHARS = 20_000
_FALLBACK_TOKEN = re.compile(r"\\([&%$#_{}])|\\[A-Za-z]+\*?|\\.?|[{}]|~|---|--")
_FALLBACK_REPLACEMENT = {"~": " ", "\\ ": " ", "\\\\": " ", "---": "\u2014", "--": "\u2013"}


def detect(path: Path, head: str) -> bool:
    """A .bib file, or any file with an "@type{key," entry line in its head."""
    if path.suffix.lower() in EXTENSIONS:
        return True
    return any(match.group(1).lower() not in _NOT_ENTRIES for match in _ENTRY_START.finditer(head))


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    import bibtexparser  # lazy: only BibTeX ingestion pays for it
    from bibtexparser.exceptions import ParsingException
    from bibtexparser.library import Library
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

    text = read_text(path)
    # The splitter logs each malformed entry as a multi-line warning; `report` has them.
    splitter_log = logging.getLogger("bibtexparser.splitter")
    level = splitter_log.level
    splitter_log.setLevel(logging.ERROR)
    try:
        library = bibtexparser.parse_string(text)
    except ParsingException as error:  # bibtexparser's own bugs, not the file's
        raise SourceError(str(path), f"the BibTeX parser failed: {error}") from None
    finally:
        splitter_log.setLevel(level)
    for block in library.blocks:
        entry = block
        if isinstance(block, DuplicateBlockKeyBlock):
            # A repeated key is no reason to lose the paper, but bibtexparser does not run
            # its middlewares on duplicates: parse the entry again next to the @strings.
            again = bibtexparser.parse_string(block.raw or "", library=Library(library.strings))
            entry = again.entries[-1] if again.entries else None
        elif isinstance(block, ParsingFailedBlock):
            report.problems.append(_problem(path, block))
            continue
        if isinstance(entry, Entry):
            paper = entry_to_paper(entry, path.name, report, str(path))
            if paper is not None:
                yield paper


def entry_to_paper(entry: Any, source: str, report: ParseReport, path: str) -> Paper | None:
    """One bibtexparser Entry as a Paper; None (noted in `report`) if it has no abstract."""
    fields: dict[str, str] = {}
    for field in entry.fields:  # field names are case-insensitive; the first one counts
        fields.setdefault(field.key.lower(), as_text(field.value))
    title = latex_to_text(fields.get("title", ""))
    abstract = latex_to_text(fields.get("abstract", ""))
    if not abstract:
        report.skipped.append(title or entry.key)
        return None
    if not title:
        line = entry.start_line + 1 if entry.start_line is not None else None
        report.problems.append(ParseError(path, line, f"entry '{entry.key}' has no title"))
        return None
    url = fields.get("url") or None
    doi = clean_doi(fields.get("doi")) or (clean_doi(url) if url and "doi.org/" in url else None)
    return Paper.create(
        title,
        abstract,
        authors=bibtex_authors(fields.get("author", "")),
        date=fields.get("date") or None,
        year=find_year(fields.get("year")) or find_year(fields.get("date")),
        sources=(source,),
        url=url,
        doi=doi,
        arxiv_id=_arxiv_id(fields),
        venue=latex_to_text(
            fields.get("journal") or fields.get("journaltitle") or fields.get("booktitle") or ""
        )
        or None,
    )


def bibtex_authors(value: str) -> list[str]:
    """BibTeX author list -> names in "First von Last, Jr" order, LaTeX decoded.

    >>> bibtex_authors(r"M{\\"u}ller, Rafael and {OpenAI} and Geoffrey Hinton")
    ['Rafael Müller', 'OpenAI', 'Geoffrey Hinton']
    """
    from bibtexparser.middlewares.names import (
        parse_single_name_into_parts,
        split_multiple_persons_names,
    )

    names = []
    for raw in split_multiple_persons_names(value):
        if raw.strip().lower() == "others":  # "and others" means et al.
            continue
        # Split before decoding: braces protect "{Barnes and Noble}" and "{von Neumann}".
        name = parse_single_name_into_parts(raw, strict=False).merge_first_name_first
        name = latex_to_text(name)
        if name:
            names.append(name)
    return names


def latex_to_text(value: str) -> str:
    """BibTeX/LaTeX markup as plain single-spaced text.

    >>> latex_to_text(r"{GPT}-style models---by M{\\"u}ller \\& Ren{\\'e}")
    'GPT-style models—by Müller & René'
    """
    if not _LATEX_MARKS.search(value):
        return as_text(value)
    if len(value) > MAX_LATEX_CHARS:
        return strip_latex(value)
    escaped = _BARE_PERCENT.sub(r"\\%", value)
    # pylatexenc reads character by character (~2 ms per abstract): give it only the
    # words that hold markup, and keep the plain words as they are.
    try:
        return as_text(
            " ".join(
                _decoder().latex_to_text(chunk) if _LATEX_MARKS.search(chunk) else chunk
                for chunk in latex_words(escaped)
            )
        )
    except RecursionError:  # braces nested hundreds deep
        return strip_latex(value)


def strip_latex(value: str) -> str:
    """Markup dropped rather than interpreted: the fallback for oversized or deep values.

    >>> strip_latex(r"{{Caf\\'e}} \\emph{new}---5\\% off")
    'Cafe new\u20145% off'
    """
    return as_text(
        _FALLBACK_TOKEN.sub(
            lambda m: m.group(1) or _FALLBACK_REPLACEMENT.get(m.group(0), ""), value
        )
    )


def latex_words(value: str) -> list[str]:
    r"""Split at spaces outside braces and math; a control word keeps its argument.

    >>> latex_words(r"a {b c} $x y$ \LaTeX\ d \c c")
    ['a', '{b c}', '$x y$', '\\LaTeX\\ d', '\\c c']
    """
    words, start, depth, math, escaped = [], 0, 0, False, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth = max(depth - 1, 0)
        elif char == "$":
            math = not math
        elif char.isspace() and depth == 0 and not math:
            word = value[start:index]
            if word and not _ENDS_IN_COMMAND.search(word):
                words.append(word)
                start = index + 1
            elif not word:
                start = index + 1
    words.append(value[start:])
    return [word.strip() for word in words if word.strip()]


@lru_cache(maxsize=1)
def _decoder() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text  # a dependency of bibtexparser v2

    # Math stays verbatim: "$k$-means" reads better than a half-converted formula.
    return LatexNodes2Text(math_mode="verbatim")


def _arxiv_id(fields: dict[str, str]) -> str | None:
    archive = (fields.get("archiveprefix") or fields.get("eprinttype") or "").lower()
    if archive == "arxiv" and (found := arxiv_id_from(fields.get("eprint"))):
        return found
    for key in ("arxivid", "url", "doi", "journal", "note", "eprint"):
        if found := arxiv_id_from(fields.get(key), bare=key == "arxivid"):
            return found
    return None


def _problem(path: Path, block: Any) -> ParseError:
    """A ParseError naming the malformed entry and its 1-based first line."""
    line = block.start_line + 1 if block.start_line is not None else None
    opening = (block.raw or "").strip().split("\n", 1)[0][:60]
    error = block.error
    reason = as_text(getattr(error, "abort_reason", None) or str(error) or type(error).__name__)
    return ParseError(str(path), line, f"malformed BibTeX entry {opening!r}: {reason}")
