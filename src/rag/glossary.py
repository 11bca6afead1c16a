"""The library's own abbreviations: "reinforcement learning from human feedback (RLHF)".

A question may spell a name out where the papers abbreviate it, or the other way
round. The extractive answerer treats an acronym in a question as a name its
quoted paper must mention; with the library's definitions, the spelled-out form
is held to the same test, so the wording of a question does not change whether
it is answered.

Definitions are found as Schwartz & Hearst (PSB 2003) do, simplified: a
parenthesised short form whose letters are the initials of the words just before
it, function words skipped ("from", "of").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SHORT = re.compile(r"\(([A-Za-z][A-Za-z0-9\-]{1,9})\)")
_WORD = re.compile(r"[a-z0-9]+")
# Words a long form may contain without an initial in the short form.
_SKIP = frozenset("of from for the and in on with to a an via by".split())
MIN_LETTERS = 3  # two-letter acronyms (RL, ML, AT) are too generic to require


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def definitions(text: str) -> dict[str, str]:
    """Long form (lower-case words) -> short form, for each definition in a text.

    >>> definitions("We use reinforcement learning from human feedback (RLHF) with large "
    ...             "language models (LLMs), unlike Sharpness-Aware Minimization (SAM).")
    {'reinforcement learning from human feedback': 'RLHF', 'large language models': 'LLM', \
'sharpness aware minimization': 'SAM'}
    >>> definitions("accuracy (ours) and results (Table 2)")
    {}
    """
    found: dict[str, str] = {}
    for match in _SHORT.finditer(text):
        short = match.group(1)
        if short.endswith("s") and short[:-1].isupper():
            short = short[:-1]  # LLMs defines LLM
        if not re.search(r"[A-Z].*[A-Z]|[A-Z].*\d", short):
            continue  # "(ours)", "(Table 2)"-like words are not abbreviations
        letters = [c.lower() for c in short if c.isalpha()]
        before = re.findall(r"[A-Za-z0-9]+", text[: match.start()])[-(len(letters) + 4) :]
        for start in range(len(before) - 1, -1, -1):
            span = [w.lower() for w in before[start:]]
            initials = [w[0] for w in span if w not in _SKIP]
            if len(initials) > len(letters):
                break
            if span[0] not in _SKIP and initials == letters:
                found.setdefault(" ".join(span), short)
                break
    return found


class Glossary:
    """The abbreviations defined anywhere in a library."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._short: dict[str, str] = {}  # long form -> short form
        self._long: dict[str, list[str]] = {}  # short form -> its long forms
        for text in texts:
            for long, short in definitions(text).items():
                if sum(c.isalpha() for c in short) >= MIN_LETTERS and long not in self._short:
                    self._short[long] = short
                    self._long.setdefault(short, []).append(long)
        self._longest = max((len(long.split()) for long in self._short), default=0)

    def __len__(self) -> int:
        return len(self._short)

    def pairs(self) -> list[tuple[str, str]]:
        """(long form, short form) in the order they were found: what from_pairs takes."""
        return list(self._short.items())

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Glossary:
        """A glossary of saved pairs() (no texts read again).

        >>> g = Glossary(["sharpness-aware minimization (SAM)"])
        >>> Glossary.from_pairs(g.pairs()).spelled_out_in("Does sharpness-aware minimization help?")
        ['SAM']
        """
        glossary = cls()
        for long, short in pairs:
            if not (isinstance(long, str) and isinstance(short, str)):
                raise ValueError("a glossary entry is not a pair of strings")
            if long not in glossary._short:
                glossary._short[long] = short
                glossary._long.setdefault(short, []).append(long)
        glossary._longest = max((len(long.split()) for long in glossary._short), default=0)
        return glossary

    def spelled_out_in(self, question: str) -> list[str]:
        """Short forms of the long forms a question spells out (none inside another).

        >>> g = Glossary(["reinforcement learning from human feedback (RLHF)",
        ...               "reinforcement learning (RL)", "large language models (LLMs)"])
        >>> g.spelled_out_in("Does reinforcement learning from human feedback help LLMs?")
        ['RLHF']
        """
        words = _words(question)
        found: list[str] = []
        # Look up each span of the question's words, not each definition.
        for size in range(min(len(words), self._longest), 0, -1):
            for start in range(len(words) - size + 1):
                span = " ".join(words[start : start + size])
                if span in self._short and not any(f" {span} " in f" {f} " for f in found):
                    found.append(span)
        return list(dict.fromkeys(self._short[long] for long in found))

    def spells(self, short: str, text: str) -> bool:
        """Whether the text spells out the short form (case, hyphens and spacing ignored).

        >>> Glossary(["Sharpness-Aware Minimization (SAM)"]).spells("SAM", "sharpness aware minimization")
        True
        """
        padded = f" {' '.join(_words(text))} "
        return any(f" {long} " in padded for long in self._long.get(short, ()))
