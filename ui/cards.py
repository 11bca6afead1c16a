"""HTML and chat Markdown for answers and their source cards. Pure: strings in, strings out.

Every string that comes from a paper (title, authors, abstract, snippet, even the
answer text, which quotes abstracts) is untrusted: it is escaped here and shown as
text. Citation markers [n] become in-page links to the card with id
"src-<turn>-<n>", or, when the marker's own supporting sentence is known
(ui/evidence.py), to that sentence in the card, "src-<turn>-<n>-<k>". ui/script.py
scrolls to the card and highlights it (CSS :target does so without the script).

    >>> answer_markdown("Data-free UAPs [1].", "t1", {1})
    'Data-free UAPs [[1]](#src-t1-1).'
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Mapping, Sequence

from rag.answer.citations import WEAK_SUPPORT, cited_numbers, parse_marker
from rag.answer.prompts import format_authors
from rag.export import escape_answer_lines, escape_markdown
from rag.types import Answer, Citation, Hit, Paper

from . import copytext
from .evidence import Claim, Evidence, EvidenceMap, claim_at, claims, sentences_by_number

CONTEXT_CHARS = 140  # of abstract shown on each side of the highlighted sentence
FALLBACK_PREFIX = "extractive (fallback"  # Answer.backend when an LLM backend failed

# A citation marker as the answerers write it: [3], [1, 2], [1-3], [Source 2].
# Same forms as rag.answer.citations accepts; parse_marker expands the body.
_MARKER = re.compile(
    r"[ \t]*\[\s*((?:sources?\s*)?\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*(?:sources?\s*)?\d+(?:\s*[-–]\s*\d+)?)*)\s*\]",
    re.IGNORECASE,
)
_SAFE_URL = re.compile(r"https?://[^\s\"'<>`]+$", re.IGNORECASE)
# Beyond HTML's five: characters template engines treat specially, as entities.
_EXTRA_ENTITIES = {"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"}


def esc(text: object) -> str:
    """HTML-escaped text, also inert for template syntax (${...}, {{...}}).

    >>> esc('<script>alert(1)</script> ${x}')
    '&lt;script&gt;alert(1)&lt;/script&gt; &#36;&#123;x&#125;'
    """
    escaped = html.escape(str(text), quote=True)
    return "".join(_EXTRA_ENTITIES.get(ch, ch) for ch in escaped)


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link, else None (no javascript: or data:).

    >>> safe_url("https://arxiv.org/abs/1801.08092"), safe_url("javascript:alert(1)")
    ('https://arxiv.org/abs/1801.08092', None)
    """
    if url and _SAFE_URL.match(url.strip()):
        return url.strip()
    return None


def anchor_id(turn: str, n: int | str) -> str:
    """The element id of a source card.

    >>> anchor_id("a1b2", 3)
    'src-a1b2-3'
    """
    return f"src-{turn}-{n}"


def streaming_markdown(text: str) -> str:
    """A partial answer while it streams: escaped, markers shown but not linked yet.

    >>> streaming_markdown("x <b>y</b> [1")
    'x &lt;b>y&lt;/b> \\\\[1'
    """
    return escape_answer_lines(text)


def answer_markdown(
    text: str, turn: str, cited: Collection[int], evidence: EvidenceMap | None = None
) -> str:
    """The final answer: escaped text, each cited number a link to its card, or to
    the sentence of the card that supports the marker's own claim (`evidence`).

    >>> answer_markdown("A [1, 2]. B [9].", "t", {1, 2})
    'A [[1]](#src-t-1)[[2]](#src-t-2). B \\\\[9\\\\].'
    >>> answer_markdown("A [1]. B [1].", "t", {1}, {(0, 1): Evidence("a", 1), (7, 1): Evidence("b", 1)})
    'A [[1]](#src-t-1-1). B [[1]](#src-t-1-2).'
    """
    found = claims(text) if evidence else []
    order = {n: [e.snippet for e in es] for n, es in sentences_by_number(evidence or {}).items()}
    pieces: list[str] = []
    start = 0
    for match in _MARKER.finditer(text):
        pieces.append(escape_answer_lines(text[start : match.start()]))
        numbers = parse_marker(match.group(1))
        if all(n in cited for n in numbers):
            space = " " if match.group(0)[:1] in (" ", "\t") else ""
            claim = claim_at(found, match.end() - 1)
            links = "".join(
                f"[[{n}]](#{_marker_anchor(turn, n, claim, evidence or {}, order)})"
                for n in numbers
            )
            pieces.append(space + links)
        else:
            pieces.append(escape_markdown(match.group(0)))
        start = match.end()
    pieces.append(escape_answer_lines(text[start:]))
    return "".join(pieces)


def _marker_anchor(
    turn: str, n: int, claim: Claim | None, evidence: EvidenceMap, order: Mapping[int, list[str]]
) -> str:
    """The card of [n], or its k-th supporting sentence when the claim's is known."""
    found = evidence.get((claim.start, n)) if claim else None
    if found is None:
        return anchor_id(turn, n)
    return anchor_id(turn, f"{n}-{order[n].index(found.snippet) + 1}")


def linkable_numbers(answer: Answer) -> set[int]:
    """Marker numbers that get a card: every citation, and any other marker that
    names a retrieved paper (a marker in a question sentence gets no Citation)."""
    valid = {n for n in cited_numbers(answer.text) if 1 <= n <= len(answer.hits)}
    return valid | {c.n for c in answer.citations}


def answer_notes_html(answer: Answer) -> str:
    """What the reader should know about an answer: the filters it was answered
    under, fallback backend, citation warnings; and, hidden, its plain text for
    the copy buttons (ui/script.py)."""
    notes = []
    problems = answer.warnings  # the engine keeps filter notes apart (answer.notes)
    if answer.notes:
        shown = "; ".join(esc(w[:1].upper() + w[1:]) for w in answer.notes)
        notes.append(f'<div class="answer-filters">{shown}</div>')
    if answer.backend.startswith(FALLBACK_PREFIX):
        notes.append(f'<div class="answer-fallback">⚠ answered by {esc(answer.backend)}</div>')
    if problems:
        items = "".join(f"<li>{esc(w)}</li>" for w in problems)
        notes.append(f'<div class="answer-warnings">⚠ Citation check:<ul>{items}</ul></div>')
    # Line breaks as entities: a blank line would end the HTML block in Markdown.
    plain = esc(copytext.answer_text(answer, linkable_numbers(answer))).replace("\n", "&#10;")
    notes.append(f'<div class="answer-copy">{plain}</div>')
    cited = len(answer.citations)
    notes.append(
        f'<div class="answer-meta">{esc(answer.backend)} · {answer.latency_s:.2f} s · '
        f"{cited} source{'s' if cited != 1 else ''} cited of {len(answer.hits)} retrieved</div>"
    )
    return "\n".join(notes)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _locate(haystack: str, needle: str) -> tuple[int, int] | None:
    """Where needle occurs in haystack (both whitespace-normalised), case-insensitively."""
    if not needle:
        return None
    at = haystack.find(needle)
    if at < 0:
        at = haystack.lower().find(needle.lower())
    if at < 0:
        stripped = needle.rstrip(".!?")  # a sentence split may drop or add the full stop
        at = haystack.lower().find(stripped.lower()) if len(stripped) > 10 else -1
        needle = stripped
    return (at, at + len(needle)) if at >= 0 else None


def highlight(abstract: str, *snippets: str) -> str:
    """The abstract, escaped, with each snippet wrapped in <mark>.

    >>> highlight("We do A. We show <b>B</b>.", "We show <b>B</b>.")
    'We do A. <mark>We show &lt;b&gt;B&lt;/b&gt;.</mark>'
    >>> highlight("One. Two. Three.", "Three.", "One.")
    '<mark>One.</mark> Two. <mark>Three.</mark>'
    """
    abstract = _normalise(abstract)
    spans = sorted(
        span for span in (_locate(abstract, _normalise(s)) for s in snippets) if span is not None
    )
    pieces, at = [], 0
    for start, end in spans:
        if start < at:  # overlaps the previous one
            continue
        pieces += [esc(abstract[at:start]), f"<mark>{esc(abstract[start:end])}</mark>"]
        at = end
    return "".join(pieces) + esc(abstract[at:])


def excerpt(abstract: str, snippet: str, chars: int = CONTEXT_CHARS) -> str:
    """The highlighted snippet with a little of the abstract around it.

    >>> excerpt("Zero. One. Two is here. Three four.", "Two is here.", chars=7)
    '…One. <mark>Two is here.</mark> Three…'
    """
    abstract, snippet = _normalise(abstract), _normalise(snippet)
    span = _locate(abstract, snippet)
    if span is None:
        return f"<mark>{esc(snippet)}</mark>" if snippet else ""
    start, end = span
    before = abstract[max(0, start - chars) : start]
    after = abstract[end : end + chars]
    lead = tail = ""
    if start > chars:  # cut mid-text: drop the partial first word
        before, lead = before[before.find(" ") + 1 :], "…"
    if end + chars < len(abstract):
        cut = after.rfind(" ")
        after, tail = (after[:cut] if cut > 0 else after), "…"
    return f"{lead}{esc(before)}<mark>{esc(abstract[start:end])}</mark>{esc(after)}{tail}"


def paper_meta_html(paper: Paper) -> str:
    """Authors · year · category · venue, escaped; a field the paper lacks is left
    out, never filled with a placeholder ("authors unknown" tells the reader nothing).

    >>> paper_meta_html(Paper.create("T", "A.", year=2024)), paper_meta_html(Paper.create("T", "A."))
    ('2024', '')
    """
    parts = [format_authors(paper.authors)] if paper.authors else []
    if paper.year:
        parts.append(str(paper.year))
    if paper.category:
        parts.append(paper.category)
    if paper.venue:
        parts.append(paper.venue)
    return " · ".join(esc(p) for p in parts)


def _title_html(paper: Paper) -> str:
    url = safe_url(paper.link)
    if url:
        return (
            f'<a class="src-title" href="{esc(url)}" target="_blank" '
            f'rel="noopener noreferrer">{esc(paper.title)} ↗</a>'
        )
    return f'<span class="src-title">{esc(paper.title)}</span>'


def support_html(support: float | None) -> str:
    """A badge with the citation's support score; weak support is flagged.

    >>> support_html(0.3)
    '<span class="src-support weak" title="similarity of the claim to this sentence">support 0.30 (weak)</span>'
    """
    if support is None:
        return ""
    weak = support < WEAK_SUPPORT
    label = f"support {support:.2f}" + (" (weak)" if weak else "")
    return (
        f'<span class="src-support {"weak" if weak else "strong"}" '
        f'title="similarity of the claim to this sentence">{label}</span>'
    )


def citation_card(citation: Citation, turn: str, evidence: Sequence[Evidence] = ()) -> str:
    """The card a [n] marker links to: the sentence supporting each claim that cites
    the paper (`evidence`, each with its id for the marker), else the citation's one."""
    paper = citation.paper
    if not evidence:
        body = support_html(citation.support) + _snippet_html(paper, citation.snippet)
        snippets = [citation.snippet]
    else:
        body = "".join(
            support_html(e.support)
            + _snippet_html(paper, e.snippet, anchor_id(turn, f"{citation.n}-{k}"))
            for k, e in enumerate(evidence, start=1)
        )
        snippets = [e.snippet for e in evidence]
    return _card(
        paper,
        anchor_id(turn, citation.n),
        f"[{citation.n}]",
        body=body,
        abstract=("Full abstract", highlight(paper.abstract, *snippets)),
    )


def _snippet_html(paper: Paper, snippet: str, anchor: str | None = None) -> str:
    if not snippet.strip():  # a refusal's "the abstract of [1] does not give ..." quotes nothing
        return ""
    ident = f' id="{anchor}"' if anchor else ""
    return f'<blockquote class="src-snippet"{ident}>{excerpt(paper.abstract, snippet)}</blockquote>'


def marker_card(hit: Hit, turn: str, n: int) -> str:
    """The card of a marker with no scored citation (e.g. in a question sentence)."""
    return _card(
        hit.paper,
        anchor_id(turn, n),
        f"[{n}]",
        body='<span class="src-support unscored" title="the citing sentence is not a claim">'
        "not scored</span>",
    )


def retrieved_card(hit: Hit, turn: str, rank: int) -> str:
    """A card for a paper that was retrieved but not cited."""
    return _card(
        hit.paper,
        anchor_id(turn, f"r{rank}"),
        f"#{rank}",
        meta=f" · score {hit.score:.3f}",
        classes="src-card uncited",
    )


def _card(
    paper: Paper,
    anchor: str,
    label: str,
    body: str = "",
    meta: str = "",
    abstract: tuple[str, str] | None = None,
    classes: str = "src-card",
) -> str:
    """A source card: label and title, metadata, the body, then the abstract folded
    away (`abstract`: its summary line and HTML; default: the plain abstract)."""
    summary, text = abstract or ("Abstract", esc(_normalise(paper.abstract)))
    return (
        f'<article class="{classes}" id="{anchor}">'
        f'<div class="src-head"><span class="src-n">{label}</span> {_title_html(paper)}</div>'
        f'<div class="src-meta"><span class="src-facts">{paper_meta_html(paper)}</span>{meta}</div>'
        f"{body}"
        f"<details><summary>{summary}</summary>"
        f'<p class="src-abstract">{text}</p></details>'
        "</article>"
    )


def turn_cards(
    answer: Answer, turn: str, show_uncited: bool, evidence: EvidenceMap | None = None
) -> str:
    """The cards of one answer, under its question."""
    sentences = sentences_by_number(evidence or {})
    by_n = {c.n: citation_card(c, turn, sentences.get(c.n, ())) for c in answer.citations}
    for n in linkable_numbers(answer) - by_n.keys():
        by_n[n] = marker_card(answer.hits[n - 1], turn, n)
    cards = [by_n[n] for n in sorted(by_n)]
    if not cards:
        cards.append('<p class="src-empty">This answer cites no paper.</p>')
    if show_uncited:
        cited = {answer.hits[n - 1].paper.paper_id for n in linkable_numbers(answer)}
        rest = [
            retrieved_card(h, turn, rank)
            for rank, h in enumerate(answer.hits, start=1)
            if h.paper.paper_id not in cited
        ]
        if rest:
            cards.append('<h4 class="src-sub">Also retrieved, not cited</h4>' + "".join(rest))
    return (
        f'<section class="src-turn"><h3 class="src-question">{esc(answer.question)}</h3>'
        + "".join(cards)
        + "</section>"
    )


def cards_panel(
    turns: Sequence[tuple[str, Answer]],
    show_uncited: bool,
    evidence: Mapping[str, EvidenceMap] | None = None,
) -> str:
    """All answers' cards, newest first (older markers still find their cards);
    `evidence`: each turn's supporting sentence per marker, by turn prefix."""
    if not turns:
        return (
            '<div class="src-panel"><p class="src-empty">Sources of each answer appear here. '
            "Click a [n] marker in an answer to jump to its source.</p></div>"
        )
    evidence = evidence or {}
    body = "".join(turn_cards(a, t, show_uncited, evidence.get(t)) for t, a in reversed(turns))
    return f'<div class="src-panel">{body}</div>'


def paper_detail_html(paper: Paper) -> str:
    """The library's detail view of one paper."""
    rows = [
        ("Authors", ", ".join(paper.authors)),
        ("Affiliations", ", ".join(paper.affiliations)),
        ("Year", str(paper.year or "")),
        ("Date", paper.date or ""),
        ("Category", paper.category or ""),
        ("Venue", paper.venue or ""),
        ("DOI", paper.doi or ""),
        ("arXiv", paper.arxiv_id or ""),
        ("Source files", ", ".join(paper.sources)),
        ("Paper id", paper.paper_id),
    ]
    table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows if v)
    return (
        f'<article class="paper-detail"><h3>{_title_html(paper)}</h3>'
        f'<table class="paper-meta">{table}</table>'
        f'<p class="src-abstract">{esc(_normalise(paper.abstract))}</p></article>'
    )
