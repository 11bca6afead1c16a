"""One parser module per input format, each turning a file into Papers.

Every format module exposes:

    NAME: str                                   # e.g. "author-profile listing"
    detect(path: Path, head: str) -> bool       # head = first ~8 KB of decoded text
    parse(path: Path, report: ParseReport) -> Iterator[Paper]

`parse` yields papers as it reads (large inputs are streamed), records entries it
skips (no abstract) and malformed entries (with line numbers) in `report`, and
raises `SourceError` only when the whole file is unusable.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..errors import ParseError, SourceError
from ..types import Paper
from .text import read_head

# Order matters: the first format whose detect() accepts the file parses it.
FORMAT_MODULES = (
    "bibtex",
    "arxiv",
    "tabular",
    "profile",
    "collaborators",
    "search_results",
    "daily",
)


@dataclass
class ParseReport:
    """What a parser noticed besides the papers it yielded."""

    skipped: list[str] = field(default_factory=list)  # entries without abstract (title or key)
    problems: list[ParseError] = field(default_factory=list)  # malformed entries, rest parsed


def formats() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}") for name in FORMAT_MODULES]


def supported_formats() -> str:
    return ", ".join(module.NAME for module in formats())


def detect_format(path: Path) -> ModuleType:
    """The format module for a file, or SourceError saying why none fits."""
    head = read_head(path)
    for module in formats():
        if module.detect(path, head):
            return module
    raise SourceError(str(path), f"unknown format; supported formats: {supported_formats()}")


def parse_file(path: Path, report: ParseReport) -> Iterator[Paper]:
    """Papers of one file, in file order (not yet de-duplicated)."""
    return detect_format(path).parse(path, report)
