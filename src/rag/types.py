"""The few frozen domain types that flow through every stage.

    source file --sources--> Paper --chunking--> Chunk --store--> Hit --answer--> Answer

Third-party objects (Chroma results, LlamaIndex nodes, LLM responses) never
leave the adapter that produced them; everything else speaks these types.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any


def unaccented(text: str) -> str:
    """Lower-case letters without their accents: the one text normaliser that titles,
    author names and identity keys build on.

    >>> unaccented("Jürgen Śliwiński")
    'jurgen sliwinski'
    """
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower()


def normalise_title(title: str) -> str:
    """Lower-case, accent-free, punctuation-free, single-spaced title.

    >>> normalise_title("  Boundary Thickness — and Robustness?! ")
    'boundary thickness and robustness'
    """
    text = re.sub(r"[^\w\s]|_", " ", unaccented(title))
    return " ".join(text.split())


def paper_id_for(title: str) -> str:
    """Stable id derived from the normalised title: re-ingesting never changes it.

    >>> paper_id_for("Attention Is All You Need") == paper_id_for("attention is all you need!")
    True
    """
    digest = hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()
    return "p_" + digest[:12]


@dataclass(frozen=True)
class Paper:
    """One paper, as parsed from any source format."""

    paper_id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    affiliations: tuple[str, ...] = ()
    category: str | None = None  # e.g. "LG", "cs.CL"
    date: str | None = None  # publication date as the source gives it
    year: int | None = None  # publication year; never a page's own date
    sources: tuple[str, ...] = ()  # file names the paper was read from
    url: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    venue: str | None = None

    @classmethod
    def create(cls, title: str, abstract: str, **fields: Any) -> Paper:
        """Build a paper with tidy text fields and its id derived from the title, unless
        a `paper_id` is given (a benchmark corpus's own document id).

        >>> Paper.create("A  title", "Text.", paper_id="doc-7").paper_id
        'doc-7'
        """
        title = " ".join(title.split())
        abstract = " ".join(abstract.split())
        for key in ("authors", "affiliations", "sources"):
            if key in fields:
                fields[key] = tuple(fields[key])
        paper_id = fields.pop("paper_id", None) or paper_id_for(title)
        return cls(paper_id=paper_id, title=title, abstract=abstract, **fields)

    @property
    def text(self) -> str:
        """Title and abstract as one text, for matching words and names in the paper."""
        return f"{self.title}. {self.abstract}"

    @property
    def link(self) -> str | None:
        """Where a reader can open the paper, if known."""
        if self.url:
            return self.url
        if self.arxiv_id:
            return f"https://arxiv.org/abs/{self.arxiv_id}"
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("authors", "affiliations", "sources"):
            data[key] = list(data[key])
        data["link"] = self.link
        return data


@dataclass(frozen=True)
class Chunk:
    """A piece of a paper's text that is embedded and indexed on its own."""

    chunk_id: str
    paper_id: str
    index: int  # position of the chunk within its paper
    text: str  # what is embedded: the title followed by (part of) the abstract


@dataclass(frozen=True)
class Hit:
    """One retrieved paper with its best matching chunk and score (higher is better)."""

    paper: Paper
    score: float
    text: str  # the best matching chunk's text
    scores: dict[str, float] = field(default_factory=dict)  # per-stage scores, for reports
    # The paper names the list question's topic as a phrase (QueryPlan.topic_phrase):
    # a member of the list whatever its score, and quoted for it by the answerer.
    names_topic: bool = False


@dataclass(frozen=True)
class Filters:
    """Metadata restrictions on retrieval; empty fields do not restrict."""

    authors: tuple[str, ...] = ()  # every listed author must be on the paper
    since: int | None = None  # first year, inclusive
    until: int | None = None  # last year, inclusive
    categories: tuple[str, ...] = ()  # any of these categories
    # A paper with no year fails a year bound unless this is set (it alone filters nothing).
    include_undated: bool = False

    def __bool__(self) -> bool:
        return bool(self.authors or self.since or self.until or self.categories)

    @property
    def has_years(self) -> bool:
        return self.since is not None or self.until is not None

    def describe(self) -> str:
        parts = []
        if self.authors:
            parts.append("author " + " and ".join(self.authors))
        if self.since and self.since == self.until:
            parts.append(f"year {self.since}")
        elif self.since and self.until:
            parts.append(f"years {self.since}-{self.until}")
        elif self.since:
            parts.append(f"since {self.since}")
        elif self.until:
            parts.append(f"until {self.until}")
        if self.has_years and self.include_undated:
            parts[-1] += " or undated"
        if self.categories:
            parts.append("category " + " or ".join(self.categories))
        return ", ".join(parts)


@dataclass(frozen=True)
class Citation:
    """A paper the answer cites as [n], with the sentence that supports the claim."""

    n: int
    paper: Paper
    snippet: str  # the supporting sentence from the paper's abstract
    support: float | None = None  # similarity of the citing claim to the snippet


@dataclass(frozen=True)
class Answer:
    """What every front end shows: the answer text, its citations and what was retrieved."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    backend: str
    latency_s: float
    warnings: tuple[str, ...] = ()  # citation problems and fallbacks: things that went wrong
    standalone_question: str | None = None  # the question after follow-up condensing
    # The extractive answerer's evidence: the refusal model's features, p_answerable
    # and, for a refusal, its reason (empty for LLM answers).
    evidence: dict[str, Any] = field(default_factory=dict)
    # What the filters did ("filtered by since 2024 (3 papers)", papers left out for
    # lacking a year): facts about the answer, not problems with it.
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The `rag ask --json` shape."""
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [
                {
                    "n": c.n,
                    "paper_id": c.paper.paper_id,
                    "title": c.paper.title,
                    "authors": list(c.paper.authors),
                    "year": c.paper.year,
                    "snippet": c.snippet,
                    "support": None if c.support is None else round(c.support, 3),
                    "link": c.paper.link,
                }
                for c in self.citations
            ],
            "retrieved": [
                {
                    "paper_id": h.paper.paper_id,
                    "title": h.paper.title,
                    "year": h.paper.year,
                    "score": round(h.score, 4),
                }
                for h in self.hits
            ],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "backend": self.backend,
            "latency_s": round(self.latency_s, 4),
            "evidence": {
                k: round(v, 4) if isinstance(v, float) else v for k, v in self.evidence.items()
            },
        }
