"""Citation parsing and checking, the same for every answerer.

An answer cites the hits it was given as [n], [n, m] or [n-m] (n is the 1-based
position in `hits`). `check_citations` removes markers that point to no hit, flags
claims without a citation, and scores how well each cited paper supports the
claim: the best cosine similarity between the claim and the sentences of the
paper's title and abstract. The abstract sentences' vectors come from the store
(`sentences`) when it has them; only the claims are embedded.

    >>> cited_numbers("IBP is fast [1, 3-4].")
    [1, 3, 4]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..sentences import split_sentences as split_text
from ..types import Citation, Hit
from .prompts import CANNOT_ANSWER

if TYPE_CHECKING:
    import numpy as np

# paper ids -> (texts, unit vectors) of each paper's title (first) and abstract
# sentences, as the store holds them (Retriever.sentences).
SentenceLookup = Callable[[Sequence[str]], dict[str, tuple[list[str], "np.ndarray"]]]

# A claim whose best cosine similarity (all-MiniLM-L6-v2) to the title and abstract
# sentences of the papers it cites is below this is flagged as weakly supported.
# Measured on the bundled abstracts (436 papers, 3,332 sentences):
#   12 hand-written paraphrased claims vs their own paper: min 0.55, median 0.80;
#   the same claims vs another claim's paper: median 0.31, max 0.46;
#   vague but correct claims ("The paper studies safety for robots."): 0.60-0.76;
#   an abstract sentence vs the *other* sentences of its paper: p10 0.41, p50 0.60;
#   vs the sentences of a random other paper: p50 0.33, p90 0.45.
# 0.45 keeps every paraphrased correct claim and flags ~90% of citations to an
# unrelated paper; a wrong citation to a closely related paper (median 0.48) is
# beyond what sentence similarity can tell apart.
WEAK_SUPPORT = 0.45

MAX_RANGE = 20  # [n-m] spanning more sources than this is read as two numbers
QUOTE_CHARS = 80  # how much of a flagged claim a warning quotes

# [3], [1, 2], [1-3], [1–3; 5], and the "[Source 2]" small models sometimes write.
_NUMBER = r"(?:sources?\s*)?\d+(?:\s*[-–]\s*\d+)?"
_MARKER = re.compile(
    rf"(?P<space>[ \t]*)\[\s*(?P<body>{_NUMBER}(?:\s*[,;]\s*{_NUMBER})*)\s*\]", re.IGNORECASE
)

# Words ending in "." that do not end a sentence.
_LEADING_MARKERS = re.compile(rf"^(?:{_MARKER.pattern}\s*)+", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(#+\s|\*\*[^*]+\*\*:?\s*$|__[^_]+__:?\s*$)|:\s*$")


@dataclass(frozen=True)
class CheckedAnswer:
    """An answer after its citations were validated and scored."""

    text: str  # the answer with invalid markers removed
    citations: tuple[Citation, ...]  # only papers actually cited, ordered by n
    warnings: tuple[str, ...]
    refused: bool  # the answer is, or starts with, CANNOT_ANSWER
    cited_sentence_share: float  # claims with at least one valid citation / claims
    valid_marker_share: float  # cited numbers that point to a hit / cited numbers


def parse_marker(body: str) -> list[int]:
    """The numbers a marker body names, ranges expanded, in order, without repeats.

    >>> parse_marker("1, 3-5; source 2")
    [1, 3, 4, 5, 2]
    """
    numbers: list[int] = []
    for part in re.split(r"[,;]", body):
        part = re.sub(r"(?i)sources?", "", part).strip()
        bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x]
        if len(bounds) == 2 and 0 <= bounds[1] - bounds[0] <= MAX_RANGE:
            bounds = list(range(bounds[0], bounds[1] + 1))
        numbers.extend(n for n in bounds if n not in numbers)
    return numbers


def cited_numbers(text: str) -> list[int]:
    """Every number cited in text, in order of first appearance.

    >>> cited_numbers("A [2]. B [1][2].")
    [2, 1]
    """
    numbers: list[int] = []
    for match in _MARKER.finditer(text):
        numbers.extend(n for n in parse_marker(match["body"]) if n not in numbers)
    return numbers


def strip_markers(text: str) -> str:
    """Text without citation markers, whitespace tidied.

    >>> strip_markers("IBP is fast [1], and tight [2].")
    'IBP is fast, and tight.'
    """
    text = _MARKER.sub("", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer (rag.sentences, keeping its lines apart): numbers such
    as "2.78x", abbreviations such as "e.g." or "et al." and list numbers do not end a
    sentence, and markers written after the full stop ("... tight. [2]") stay with
    their sentence.

    >>> split_sentences("It compresses memory by 2.78x [1]. See e.g. Wu et al. [2] It works.")
    ['It compresses memory by 2.78x [1].', 'See e.g. Wu et al. [2] It works.']
    >>> split_sentences("It is tight. [Source 2] It works.")
    ['It is tight. [Source 2]', 'It works.']
    """
    sentences: list[str] = []
    for line in text.splitlines():
        in_line: list[str] = []  # a line's leading markers are its own: a list item's "[1] ..."
        for piece in split_text(line, keep_lines=True):
            lead = _LEADING_MARKERS.match(piece)
            if lead and in_line:
                in_line[-1] += " " + lead.group(0).strip()
                piece = piece[lead.end() :].strip()
            if piece:
                in_line.append(piece)
        sentences.extend(in_line)
    return sentences


def is_refusal(text: str) -> bool:
    """True when the text is, or starts with, the refusal sentinel.

    >>> is_refusal("  i cannot answer this from the papers in the library")
    True
    """
    sentinel = CANNOT_ANSWER.rstrip(".").lower()
    return " ".join(text.split()).lower().startswith(sentinel)


def is_claim(sentence: str) -> bool:
    """Whether a sentence states something that needs a citation: not a heading,
    a question, a bare marker list or the refusal.

    >>> [is_claim(s) for s in ("## Summary", "Why?", "IBP is fast.", CANNOT_ANSWER)]
    [False, False, True, False]
    """
    bare = strip_markers(sentence).strip(" \t-*•>")
    if not re.search(r"[^\W\d_]", bare):  # no letters at all
        return False
    if _HEADING.search(sentence) or bare.endswith("?") or is_refusal(bare):
        return False
    return True


def check_citations(
    text: str,
    hits: Sequence[Hit],
    embed: Callable[[list[str]], np.ndarray],
    sentences: SentenceLookup | None = None,
) -> CheckedAnswer:
    """Validate and score the [n] markers of an answer about `hits`.

    `embed` maps texts to unit vectors (the engine passes `Embedder.embed`); it is
    called once, and only when something is cited: on the claims, and on the
    sentences of cited papers that `sentences` (the store's vectors) lacks.
    """
    text, warnings, total_refs, valid_refs = _remove_invalid_markers(text, len(hits))
    refused = is_refusal(text)
    claims = [s for s in split_sentences(text) if is_claim(s)]
    if refused:  # what a refusal says besides citations is about the library, not a paper
        claims = [s for s in claims if cited_numbers(s)]
    cited = [(claim, cited_numbers(claim)) for claim in claims]
    for claim, numbers in cited:
        if not numbers:
            warnings.append(f"uncited claim: '{_quote(claim)}'")

    if refused:
        # What a refusal says of a cited paper ("the abstract of [1] does not give the
        # parameter count") is about what the paper lacks: it is cited, and no sentence
        # of it can support an absence, so none is scored.
        numbers = sorted({n for _, ns in cited for n in ns})
        citations = tuple(Citation(n, hits[n - 1].paper, snippet="") for n in numbers)
        weak: list[str] = []
    else:
        citations, weak = _score_support([(c, ns) for c, ns in cited if ns], hits, embed, sentences)
    warnings.extend(weak)
    n_cited = sum(1 for _, numbers in cited if numbers)
    return CheckedAnswer(
        text=text,
        citations=citations,
        warnings=tuple(warnings),
        refused=refused,
        cited_sentence_share=n_cited / len(claims) if claims else 1.0,
        valid_marker_share=valid_refs / total_refs if total_refs else 1.0,
    )


def _remove_invalid_markers(text: str, n_hits: int) -> tuple[str, list[str], int, int]:
    """Drop numbers that point to no hit; a marker left empty disappears with its space."""
    warnings: list[str] = []
    counts = {"total": 0, "valid": 0}

    def rewrite(match: re.Match) -> str:
        numbers = parse_marker(match["body"])
        valid = [n for n in numbers if 1 <= n <= n_hits]
        counts["total"] += len(numbers)
        counts["valid"] += len(valid)
        for n in numbers:
            message = f"removed citation [{n}]: no such source"
            if n not in valid and message not in warnings:
                warnings.append(message)
        if not valid:
            return ""
        if len(valid) == len(numbers) and "ource" not in match["body"]:
            return match.group(0)  # untouched: keep the author's own formatting
        return match["space"] + "[" + ", ".join(map(str, valid)) + "]"

    cleaned = _MARKER.sub(rewrite, text).strip()
    return cleaned, warnings, counts["total"], counts["valid"]


def _paper_sentences(hit: Hit) -> tuple[str, list[str]]:
    """The title and the abstract sentences a claim about this hit is compared with,
    split as ingest splits them for the store."""
    body = split_text(hit.paper.abstract or hit.text)
    return hit.paper.title, body or [hit.paper.title]


def _support_rows(
    numbers: list[int],
    hits: Sequence[Hit],
    claims: list[str],
    embed: Callable[[list[str]], np.ndarray],
    sentences: SentenceLookup | None,
) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, list[tuple[str, np.ndarray]]]]]:
    """Claim vectors, and per cited number its title vector and (sentence, vector)s."""
    stored = sentences([hits[n - 1].paper.paper_id for n in numbers]) if sentences else {}
    texts = list(claims)
    pending: dict[int, tuple[int, list[tuple[str, int]]]] = {}
    for n in numbers:
        if hits[n - 1].paper.paper_id not in stored:
            title, body = _paper_sentences(hits[n - 1])
            pending[n] = (len(texts), [(s, len(texts) + 1 + i) for i, s in enumerate(body)])
            texts += [title, *body]
    vectors = embed(texts)
    rows = {}
    for n in numbers:
        if n in pending:
            title_row, body = pending[n]
            rows[n] = (vectors[title_row], [(s, vectors[r]) for s, r in body])
        else:
            names, stored_vectors = stored[hits[n - 1].paper.paper_id]
            body = list(zip(names[1:], stored_vectors[1:], strict=True))
            rows[n] = (stored_vectors[0], body or [(names[0], stored_vectors[0])])
    return vectors[: len(claims)], rows


def claim_evidence(
    cited: Sequence[tuple[str, Sequence[int]]],
    hits: Sequence[Hit],
    embed: Callable[[list[str]], np.ndarray],
    sentences: SentenceLookup | None = None,
) -> list[dict[int, tuple[float, str]]]:
    """Per claim, for each number it cites: (support, the sentence of that paper
    closest to the claim). Support is the claim's best cosine to the paper's title or
    one of its abstract sentences; the check below and the UI's per-marker evidence
    both read it."""
    if not cited:
        return []
    numbers = sorted({n for _, ns in cited for n in ns})
    bodies = [_claim_body(claim, [hits[n - 1].paper.title for n in ns]) for claim, ns in cited]
    claim_vectors, paper_rows = _support_rows(numbers, hits, bodies, embed, sentences)
    found = []
    for (_, ns), vector in zip(cited, claim_vectors, strict=True):
        per_number = {}
        for n in ns:
            title_vector, body = paper_rows[n]
            top_sim, snippet = max((float(vector @ v), s) for s, v in body)
            per_number[n] = (max(top_sim, float(vector @ title_vector)), snippet)
        found.append(per_number)
    return found


def _score_support(
    cited: list[tuple[str, list[int]]],
    hits: Sequence[Hit],
    embed: Callable[[list[str]], np.ndarray],
    sentences: SentenceLookup | None = None,
) -> tuple[tuple[Citation, ...], list[str]]:
    """One Citation per cited hit (its best claim's snippet), and weak-support warnings."""
    if not cited:
        return (), []
    best: dict[int, tuple[float, str]] = {}  # n -> (support, snippet)
    warnings = []
    for (claim, ns), per_number in zip(
        cited, claim_evidence(cited, hits, embed, sentences), strict=True
    ):
        claim_best = (-1.0, 0)
        for n in ns:
            support, snippet = per_number[n]
            if n not in best or support > best[n][0]:
                best[n] = (support, snippet)
            claim_best = max(claim_best, (support, n))
        if claim_best[0] < WEAK_SUPPORT:
            warnings.append(
                f"weakly supported claim: '{_quote(claim)}' "
                f"(support {claim_best[0]:.2f} from [{claim_best[1]}])"
            )
    citations = tuple(
        Citation(n=n, paper=hits[n - 1].paper, snippet=best[n][1], support=best[n][0])
        for n in sorted(best)
    )
    return citations, warnings


def _claim_body(claim: str, titles: Sequence[str]) -> str:
    """What a claim asserts: without its markers, a list bullet, or a leading
    "Title:" naming the paper it cites (one line per paper in list answers).

    >>> _claim_body("- Deep Nets: They overfit [2].", ["Deep Nets"])
    'They overfit.'
    """
    bare = strip_markers(claim).strip().lstrip("-*• ").strip()
    for title in titles:
        if bare.lower().startswith(title.lower() + ":"):
            return bare[len(title) + 1 :].strip()
    return bare


def _quote(sentence: str) -> str:
    bare = strip_markers(sentence)
    return bare if len(bare) <= QUOTE_CHARS else bare[: QUOTE_CHARS - 1].rstrip() + "…"
