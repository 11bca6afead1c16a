"""An answer as a Markdown document a researcher can keep: the question, the answer
with its [n] markers, a numbered reference list (with the supporting sentence of each
citation) and BibTeX entries for the cited papers. Pure: no I/O.

Paper text is untrusted (a title may hold HTML or a Markdown link), so everything
taken from a paper is escaped for Markdown before it is written.

    >>> bibtex_key(Paper.create("Attention Is All You Need", "x", authors=["Ashish Vaswani"], year=2017))
    'vaswani2017attention'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from .types import Answer, Citation, Paper

MAX_KEY_WORD = 20  # characters of the title word used in a BibTeX key
MAX_AUTHORS_LISTED = 6  # in the reference list, then "et al."

# Characters that start inline Markdown (emphasis, code, links, strikethrough) or
# escape one; HTML starts only where "<" begins a tag, so "x < y" stays readable.
_MD_INLINE = re.compile(r"[\\`*_\[\]~]")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Small words that make poor BibTeX keys ("a", "on", "the").
_STOP_WORDS = frozenset("a an the on of in for to and with via from by is are do does".split())
# BibTeX special characters and their escaped forms.
_BIBTEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def escape_markdown(text: str) -> str:
    """Text that renders as itself in Markdown: no links, emphasis, code or HTML.

    >>> escape_markdown("<script>x</script> [a](b) *c*")
    '&lt;script>x&lt;/script> \\\\[a\\\\](b) \\\\*c\\\\*'
    """
    text = _ENTITY.sub("&amp;", text)
    text = _TAG_START.sub("&lt;", text)
    return _MD_INLINE.sub(lambda m: "\\" + m.group(0), text)


_LIST_LEAD = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def escape_answer_lines(text: str) -> str:
    """escape_markdown line by line, keeping list markers at line starts (the answer's
    structure: one line per paper for list questions).

    >>> escape_answer_lines("- *a*")
    '- \\\\*a\\\\*'
    """
    out = []
    for line in text.split("\n"):
        lead = _LIST_LEAD.match(line)
        head = lead.group(0) if lead else ""
        out.append(head + escape_markdown(line[len(head) :]))
    return "\n".join(out)


def ascii_fold(text: str) -> str:
    """Accents removed, non-ASCII dropped.

    >>> ascii_fold("Gödel Śliwiński")
    'Godel Sliwinski'
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ord(ch) < 128)


def last_name(author: str) -> str:
    """The family name of "First Last" or "Last, First".

    >>> last_name("Yaodong Yu"), last_name("Mopuri, Konda Reddy"), last_name("")
    ('Yu', 'Mopuri', '')
    """
    author = " ".join(author.split())
    if "," in author:
        return author.split(",")[0].strip()
    return author.split(" ")[-1] if author else ""


def bibtex_key(paper: Paper, taken: Iterable[str] = ()) -> str:
    """A citation key: first author's family name, year, first significant title word;
    a letter is appended when the key is already taken.

    >>> p = Paper.create("On the Robustness of ViTs", "x", authors=["Ana Díaz"], year=2021)
    >>> bibtex_key(p), bibtex_key(p, taken={"diaz2021robustness"})
    ('diaz2021robustness', 'diaz2021robustnessb')
    """
    family = (
        re.sub(r"[^a-z]", "", ascii_fold(last_name(paper.authors[0])).lower())
        if paper.authors
        else ""
    )
    words = re.findall(r"[a-z0-9]+", ascii_fold(paper.title).lower())
    word = next((w for w in words if w not in _STOP_WORDS), words[0] if words else "paper")
    base = f"{family or 'anon'}{paper.year or 'nd'}{word[:MAX_KEY_WORD]}"
    taken = set(taken)
    key, suffix = base, ord("b")
    while key in taken:
        key, suffix = base + chr(suffix), suffix + 1
    return key


def bibtex_escape(text: str) -> str:
    """Text safe inside a BibTeX field value.

    >>> bibtex_escape("100% of {x} & y_1")
    '100\\\\% of \\\\{x\\\\} \\\\& y\\\\_1'
    """
    return "".join(_BIBTEX_SPECIAL.get(ch, ch) for ch in " ".join(text.split()))


def bibtex_entry(paper: Paper, key: str) -> str:
    """One BibTeX entry: @article when the venue is known, else @misc.

    >>> print(bibtex_entry(Paper.create("T", "A.", authors=["A B", "C D"], year=2020), "b2020t"))
    @misc{b2020t,
      title = {{T}},
      author = {A B and C D},
      year = {2020},
    }
    """
    fields: list[tuple[str, str]] = [("title", "{" + bibtex_escape(paper.title) + "}")]
    if paper.authors:
        fields.append(("author", " and ".join(bibtex_escape(a) for a in paper.authors)))
    if paper.year:
        fields.append(("year", str(paper.year)))
    if paper.venue:
        fields.append(("journal", bibtex_escape(paper.venue)))
    if paper.arxiv_id:
        fields += [("eprint", bibtex_escape(paper.arxiv_id)), ("archiveprefix", "arXiv")]
    if paper.doi:
        fields.append(("doi", bibtex_escape(paper.doi)))
    if paper.url:
        fields.append(("url", paper.url.replace("}", "%7D").replace("{", "%7B")))
    kind = "article" if paper.venue else "misc"
    body = "".join(f"  {name} = {{{value}}},\n" for name, value in fields)
    return f"@{kind}{{{key},\n{body}}}"


def bibtex_entries(papers: Sequence[Paper]) -> list[str]:
    """Entries with distinct keys, in the order given."""
    keys: list[str] = []
    entries = []
    for paper in papers:
        key = bibtex_key(paper, keys)
        keys.append(key)
        entries.append(bibtex_entry(paper, key))
    return entries


def format_reference(paper: Paper) -> str:
    """One reference, Markdown-escaped: authors (year). Title. Venue. link

    >>> format_reference(Paper.create("T *x*", "A.", authors=["A B"], year=2020, arxiv_id="2001.1"))
    'A B (2020). T \\\\*x\\\\*. <https://arxiv.org/abs/2001.1>'
    """
    authors = ", ".join(paper.authors[:MAX_AUTHORS_LISTED])
    if len(paper.authors) > MAX_AUTHORS_LISTED:
        authors += " et al."
    parts = []
    if authors or paper.year:
        parts.append(escape_markdown(authors) + (f" ({paper.year})" if paper.year else "") + ".")
    parts.append(escape_markdown(paper.title.rstrip(".")) + ".")
    if paper.venue:
        parts.append(escape_markdown(paper.venue) + ".")
    link = paper.link
    if link and re.match(r"https?://[^\s<>]+$", link):
        parts.append(f"<{link}>")
    return " ".join(p.lstrip() for p in parts)


def reference_list(citations: Sequence[Citation]) -> str:
    """A numbered list, numbered by the answer's own [n], each with its supporting sentence."""
    lines = []
    for c in citations:
        lines.append(f"{c.n}. {format_reference(c.paper)}")
        if c.snippet:
            support = f" (support {c.support:.2f})" if c.support is not None else ""
            lines.append(f"   > “{escape_markdown(c.snippet)}”{support}")
    return "\n".join(lines)


def answer_to_markdown(answer: Answer) -> str:
    """The whole export: question, answer, references and BibTeX."""
    parts = [
        "# " + escape_markdown(answer.question),
        "",
        escape_answer_lines(answer.text),
        "",
    ]
    if answer.citations:
        parts += ["## References", "", reference_list(answer.citations), ""]
        bibtex = "\n\n".join(bibtex_entries([c.paper for c in answer.citations]))
        fence = _fence(bibtex)
        parts += ["## BibTeX", "", fence + "bibtex", bibtex, fence, ""]
    parts.append(f"*Answered by the {escape_markdown(answer.backend)} backend.*")
    return "\n".join(parts) + "\n"


def _fence(content: str) -> str:
    """A code fence longer than any backtick run inside the content.

    >>> _fence("a ``` b")
    '````'
    """
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    return "`" * max(3, longest + 1)
