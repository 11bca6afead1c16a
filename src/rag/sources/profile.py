"""Author-profile listing: entries of three lines, with the title glued to the authors.

    LGJun 1, 2023Code
    White-Box Transformers via Sparse Rate ReductionYaodong Yu, Sam Buchanan, Druv Pai et al.
    In this paper, we contend that ...

The header holds an optional score, the arXiv category, the date and an optional
"Code" badge ("92.5AIMar 11Code"). The scrape lost the separator between the title
and the author list, so `split_title_authors` finds it with a small model of names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import ParseError
from ..types import Paper
from . import ParseReport
from .text import iter_numbered_lines

NAME = "author-profile listing"

MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
HEADER_RE = re.compile(
    r"(?P<score>\d+(?:\.\d+)?)?"
    r"(?P<category>[A-Z]{2,6}?)?"
    rf"(?P<date>{MONTH} \d{{1,2}}(?:, (?P<year>\d{{4}}))?)"
    r"(?P<code>Code)?"
)
AFFILIATION_SEPARATOR = " · "
ET_AL_RE = re.compile(r",?\s*(?:et al\.?|and others|…|\.\.\.)\s*$")
AUTHOR_SEPARATOR_RE = re.compile(r"\s*,\s*|\s+(?:and|&)\s+")
# Lower-case name particles ("Laurens van der Maaten", "Nando de Freitas").
PARTICLES = frozenset(
    "van von der den de del della di da das dos du la le ter ten zu af bin ibn".split()
)
SUFFIXES = frozenset({"Jr.", "Jr", "Sr.", "Sr", "II", "III", "IV"})
MAX_NAME_TOKENS = 6  # "Juan Felipe Ceron Uribe" has 4; particles can add two
ORGANISATION_RE = re.compile(r"[A-Z][A-Za-z]*[a-z][A-Za-z]*")  # OpenAI, DeepMind
MAX_CAPITAL_CHUNKS = 2  # LeCun, McDonald, DiCaprio; no name word has three
INITIALS_RE = re.compile(r"(?:[^\W\d_]\.-?){1,3}")
APOSTROPHE_PREFIX_RE = re.compile(r"^[A-Za-z]['’]")  # O'Brien, D'Amour, d'Aspremont
# Every capital letter is a candidate split and each candidate reads the rest of the
# line, so the work grows with the square of the line's length. Real title-and-author
# lines are under 200 characters (158 in the bundled page); a longer one is kept whole.
MAX_SPLIT_CHARS = 2000


def detect(path: Path, head: str) -> bool:
    """A profile listing starts with an entry header such as 'LGJun 1, 2023Code'."""
    lines = [line.strip() for line in head.splitlines() if line.strip()]
    header = HEADER_RE.fullmatch(lines[0]) if len(lines) >= 2 else None
    return header is not None and header["category"] is not None  # a bare "Mar 11" is a page date


def parse(path: Path, report: ParseReport) -> Iterator[Paper]:
    """Papers in file order; an entry without abstract is reported as skipped."""
    entry: _Entry | None = None
    for number, line in iter_numbered_lines(path):
        text = line.strip()
        header = HEADER_RE.fullmatch(text)
        if header:
            if entry:
                yield from entry.paper(path, report)
            entry = _Entry(number, header)
        elif not text:
            continue
        elif entry is None:
            report.problems.append(
                ParseError(str(path), number, "text before the first entry header")
            )
        elif entry.title_line is None:
            entry.title_line, entry.title_number = text, number
        else:
            entry.abstract.append(text)
    if entry:
        yield from entry.paper(path, report)


class _Entry:
    """The lines of one entry while they are being read."""

    def __init__(self, number: int, header: re.Match[str]) -> None:
        self.number = number
        self.header = header
        self.title_line: str | None = None
        self.title_number = number
        self.abstract: list[str] = []

    def paper(self, path: Path, report: ParseReport) -> Iterator[Paper]:
        if self.title_line is None:
            report.problems.append(
                ParseError(str(path), self.number, "entry header without a title line")
            )
            return
        split = split_title_authors(self.title_line)
        if split is None:
            problem = "cannot tell the title from the authors; kept the whole line as title"
            report.problems.append(ParseError(str(path), self.title_number, problem))
            split = (self.title_line, (), ())
        title, authors, affiliations = split
        if not self.abstract:
            report.skipped.append(title)
            return
        year = self.header["year"]
        yield Paper.create(
            title,
            " ".join(self.abstract),
            authors=authors,
            affiliations=affiliations,
            category=self.header["category"],
            date=self.header["date"],
            year=int(year) if year else None,  # "Mar 11" has no year: never guess one
            sources=(path.name,),
        )


def split_title_authors(line: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """Split 'TitleFirst Last, First Last et al. · affiliations' into its parts.

    >>> split_title_authors("Frontier LLMsChuan Guo, Juan Felipe Ceron Uribe et al.")
    ('Frontier LLMs', ('Chuan Guo', 'Juan Felipe Ceron Uribe'), ())

    The title and the first author's given name are glued, so the split point is a
    capital letter not preceded by a space. Every such point whose remainder parses as
    a list of person names is a candidate; the cheapest one by `_split_cost` wins.
    """
    if len(line) > MAX_SPLIT_CHARS:
        return None
    body, separator, affiliation_text = line.rpartition(AFFILIATION_SEPARATOR)
    if not separator:
        body, affiliation_text = line, ""
    affiliations = tuple(a.strip() for a in affiliation_text.split(",") if a.strip())
    best: tuple[int, int] | None = None
    result = None
    # Only if no split yields person names: a group author first ("OpenAI, Josh Achiam").
    for organisation_first in (False, True):
        for i in range(1, len(body)):
            if not body[i].isupper() or body[i - 1].isspace():
                continue
            title = body[:i].strip()
            if not title or title.endswith(("-", "'", "’")):  # inside "Yi-Fan", "O'Brien"
                continue
            authors = parse_author_list(body[i:], organisation_first)
            if authors is None:
                continue
            key = (_split_cost(title, authors), -i)  # ties: the later split, the longer title
            if best is None or key < best:
                best, result = key, (title, authors, affiliations)
        if result is not None:
            return result
    return None


def parse_author_list(text: str, organisation_first: bool = False) -> tuple[str, ...] | None:
    """Names of a comma-separated author list without 'et al.', or None if one is no name.

    >>> parse_author_list("Yann LeCun, Laurens van der Maaten, J. Z. Kolter et al.")
    ('Yann LeCun', 'Laurens van der Maaten', 'J. Z. Kolter')
    """
    text = ET_AL_RE.sub("", text.strip())
    names: list[str] = []
    for piece in AUTHOR_SEPARATOR_RE.split(text):
        piece = " ".join(piece.split())
        if piece in SUFFIXES and names:  # "Martin Luther King, Jr."
            names[-1] = f"{names[-1]} {piece}"
            continue
        group = organisation_first and not names and ORGANISATION_RE.fullmatch(piece)
        if not (group or is_person_name(piece)):
            return None
        names.append(piece)
    return tuple(names) or None


def is_person_name(text: str) -> bool:
    """Whether `text` reads as one person's name: capitalised words, initials, particles.

    >>> [is_person_name(n) for n in ("Yi-Fan Zhang", "Kwan Ho Ryan Chan", "Frontier LLMs")]
    [True, True, False]
    """
    tokens = text.split()
    kinds = [_token_kind(token) for token in tokens]
    if not kinds or len(kinds) > MAX_NAME_TOKENS or None in kinds:
        return False
    if len(tokens[0]) == 1:
        return False  # "T Learning Yu" is the end of "ViT" glued to a name, not "T. Learning"
    if kinds[-1] == "suffix":
        kinds = kinds[:-1]
    return bool(kinds) and kinds[-1] in ("word", "camel")


def _token_kind(token: str) -> str | None:
    """'particle', 'suffix', 'initial', 'word', 'camel' (LeCun, McDonald) or None."""
    if token in PARTICLES:
        return "particle"
    if token in SUFFIXES:
        return "suffix"
    if _is_initials(token):
        return "initial"
    kinds = [_word_kind(part, first=i == 0) for i, part in enumerate(token.split("-"))]
    if None in kinds:
        return None
    return "camel" if "camel" in kinds else "word"


def _is_initials(token: str) -> bool:
    """'J.', 'J.Z.', 'J.-P.' (every letter with its full stop) or a bare capital 'J'."""
    if len(token) == 1:
        return token.isalpha() and token.isupper()
    return INITIALS_RE.fullmatch(token) is not None and all(
        ch.isupper() for ch in token if ch.isalpha()
    )


def _word_kind(part: str, first: bool) -> str | None:
    """A name word is capitalised chunks, each with lower-case letters: 'Yu', 'LeCun'."""
    part = APOSTROPHE_PREFIX_RE.sub("", part)
    if not part or not all(ch.isalpha() or ch in "'’" for ch in part):
        return None
    if not part[0].isupper():
        # Only a later hyphen part may be lower case: "Jun-yan".
        return "word" if not first and part.islower() else None
    chunks = _capital_chunks(part)
    if any(not any(ch.islower() for ch in chunk) for chunk in chunks):
        return None  # an all-capital run: an acronym such as "LLM", not a name
    if len(chunks) > MAX_CAPITAL_CHUNKS:
        return None  # "ChauffeurNetYaodong": a title word glued to a name
    return "camel" if len(chunks) > 1 else "word"


def _capital_chunks(word: str) -> list[str]:
    """'LeCun' -> ['Le', 'Cun']: a new chunk starts at every capital letter."""
    chunks: list[str] = []
    for ch in word:
        if ch.isupper() or not chunks:
            chunks.append(ch)
        else:
            chunks[-1] += ch
    return chunks


def _split_cost(title: str, authors: tuple[str, ...]) -> int:
    """How implausible a split is; 0 for a clean one.

    Candidate splits differ only in which glued word they cut, so the cost counts
    oddities over the whole line, title and names alike:
    - capitalised humps inside a word ("LeCun", "ChauffeurNet", "ReductionYaodong"):
      the correct split cuts one more hump than a wrong one that leaves it glued;
    - a glued initial ("NetworksJ."), which no title word has;
    - a first author with a single name: the given name stayed on the title
      ("...ReductionYaodong" + "Yu");
    - a camel-case given name ("MsChuan"): common in surnames, rare in given names.
    """
    words = title.split() + [token for name in authors for token in name.split()]
    cost = sum(_humps(word.strip("(),;:!?\"'")) for word in words)
    first_tokens = authors[0].split()
    if len(first_tokens) == 1:
        cost += 3
    if _token_kind(first_tokens[0]) == "camel":
        cost += 1
    return cost


def _humps(word: str) -> int:
    """Capital letters that start a lower-case run inside a word; 2 per glued initial.

    >>> [_humps(w) for w in ("LeCun", "ReLU", "ViTYu", "NetworksJ.", "Yu-Fan")]
    [1, 0, 1, 2, 0]
    """
    humps = 0
    for i in range(1, len(word) - 1):
        if word[i].isupper() and word[i - 1].isalpha():
            if word[i + 1].islower():
                humps += 1
            elif word[i + 1] == "." and word[i - 1].islower():
                humps += 2
    return humps
