"""Forgiving author-name matching (pure).

"Yu, Yaodong" = "Yaodong Yu" = "Y. Yu" = "yaodong yu" = "Yáodong Yu", where the
short forms are unambiguous among the library's authors.

    >>> AuthorIndex({"p1": ["Yaodong Yu"], "p2": ["Yang Yu"]}).resolve("Yu, Yaodong")
    ('Yaodong Yu',)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import InputError, NoMatchError
from .types import unaccented

_PARTICLES = {"van", "von", "der", "de", "den", "del", "della", "di", "da", "le", "la", "du", "dos"}


def fold(text: str) -> str:
    """Lower-case, accent-free letters and single spaces.

    >>> fold("Jürgen  SCHMIDHUBER")
    'jurgen schmidhuber'
    """
    text = re.sub(r"[^a-z0-9\s.'-]", " ", unaccented(text))
    return " ".join(text.replace("-", " ").split())


@dataclass(frozen=True)
class NameKey:
    first: tuple[str, ...]  # given names, folded (may be initials)
    last: str  # family name, folded, particles included ("van der meer")

    @classmethod
    def parse(cls, name: str) -> NameKey:
        """'Last, First' or 'First [particles] Last'.

        >>> NameKey.parse("van der Meer, J.")
        NameKey(first=('j',), last='van der meer')
        """
        if "," in name:
            last, _, first = name.partition(",")
            return cls(tuple(t.strip(".") for t in fold(first).split()), fold(last).strip("."))
        tokens = [t.strip(".") for t in fold(name).split()]
        tokens = [t for t in tokens if t]
        if not tokens:
            return cls((), "")
        i = len(tokens) - 1
        while i > 0 and tokens[i - 1] in _PARTICLES:
            i -= 1
        return cls(tuple(tokens[:i]), " ".join(tokens[i:]))

    def matches(self, other: NameKey) -> bool:
        """Same family name and compatible given names (initials match full names)."""
        if self.last != other.last or not self.last:
            return False
        if not self.first or not other.first:
            return True
        for a, b in zip(self.first, other.first):
            if len(a) == 1 or len(b) == 1:
                if a[0] != b[0]:
                    return False
            elif a != b:
                return False
        return True


class AuthorIndex:
    """Known author names of the library, for resolving and recognising names."""

    def __init__(self, authors_by_paper: Mapping[str, Iterable[str]]) -> None:
        self.papers_by_author: dict[str, set[str]] = {}
        for paper_id, names in authors_by_paper.items():
            for name in names:
                self.papers_by_author.setdefault(name, set()).add(paper_id)
        self._keys = {name: NameKey.parse(name) for name in self.papers_by_author}
        self._by_last: dict[str, list[str]] = {}
        for name, key in self._keys.items():
            self._by_last.setdefault(key.last, []).append(name)
        # folded full names, longest first, for spotting names inside questions
        self._full = sorted(
            ((fold(name), name) for name in self._keys if len(fold(name).split()) >= 2),
            key=lambda pair: -len(pair[0]),
        )

    def resolve(self, query: str) -> tuple[str, ...]:
        """The library's spelling(s) of one person; raises when unknown or ambiguous."""
        key = NameKey.parse(query)
        if not key.last:
            raise InputError(f"author {query!r} is not a name: give e.g. 'Yaodong Yu'")
        same_last = self._by_last.get(key.last, [])
        people = [
            group
            for group in _group_same_person([self._keys[n] for n in same_last], same_last)
            if any(key.matches(self._keys[name]) for name in group)
        ]
        full = [g for g in people if any(len(t) > 1 for t in self._keys[g[0]].first)]
        if full and len(full) < len(people):
            people = full  # an ambiguous "Y. Yu" on its own does not compete with a full name
        if not people:
            raise NoMatchError(
                f"no paper in the library lists the author {query!r}: check the spelling "
                "or see `rag papers`"
            )
        if len(people) > 1:
            options = ", ".join(sorted(group[0] for group in people)[:6])
            raise InputError(f"author {query!r} is ambiguous ({options}): give the full name")
        return tuple(people[0])

    def paper_ids(self, query: str) -> set[str]:
        ids: set[str] = set()
        for name in self.resolve(query):
            ids |= self.papers_by_author[name]
        return ids

    def closest(self, query: str, n: int = 3) -> list[str]:
        """The library's author names spelled most like `query` (for "did you mean").

        >>> AuthorIndex({"p1": ["Yaodong Yu"], "p2": ["Yang Yu"]}).closest("Yadong Yu", 1)
        ['Yaodong Yu']
        """
        import difflib

        names = {fold(name): name for name in self._keys}
        return [names[m] for m in difflib.get_close_matches(fold(query), list(names), n, 0.5)]

    def find_in(self, text: str) -> list[tuple[str, str]]:
        """Known full names mentioned in text: (canonical name, matched folded text)."""
        folded = fold(text)
        found: list[tuple[str, str]] = []
        taken: list[str] = []
        for folded_name, name in self._full:
            if re.search(rf"(?<![a-z]){re.escape(folded_name)}(?![a-z])", folded):
                if not any(folded_name in t for t in taken):
                    found.append((name, folded_name))
                    taken.append(folded_name)
        return found


def _group_same_person(keys: list[NameKey], names: list[str]) -> list[list[str]]:
    """Group spellings that can be one person ('Y. Yu' with 'Yaodong Yu'); an
    initials-only spelling that fits several people stays a group of its own."""
    full = [n for n, k in zip(names, keys) if any(len(t) > 1 for t in k.first)]
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in full:
        groups.setdefault(NameKey.parse(name).first, []).append(name)
    result = list(groups.values())
    for name, key in zip(names, keys):
        if name in full:
            continue
        homes = [g for g in result if key.matches(NameKey.parse(g[0]))]
        if len(homes) == 1:
            homes[0].append(name)
        else:
            result.append([name])
    return result
