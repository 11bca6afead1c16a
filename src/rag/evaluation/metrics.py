"""Pure eval metrics: per question from a results row, then aggregated per group.

    >>> reciprocal_rank(["Other paper", "Attention is all you need!"], ["Attention Is All You Need"])
    0.5

A results row has the `Answer.to_json()` shape (answer, refused, citations,
retrieved, warnings, latency_s) plus kind, hard, gold_titles and answer_keywords.
Gold titles match retrieved and cited titles case-, accent- and
punctuation-insensitively (`normalise_title`). A per-question metric that does not
apply (no gold papers, no citations) is None and is left out of the averages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..answer.citations import cited_numbers, is_claim, split_sentences
from ..types import normalise_title
from .questions import KINDS, UNANSWERABLE

K = 5  # the cut-off of hit@k and recall@k: the answerer sees the top 5 by default
HARD = "hard"  # the group of questions marked "hard" in the question file
OVERALL = "overall"
# check_citations reports a marker it removed as "removed citation [n]: no such source".
REMOVED_CITATION = "removed citation"


def _titles(titles: Iterable[str]) -> list[str]:
    """Normalised titles, first occurrence kept."""
    return list(dict.fromkeys(normalise_title(t) for t in titles))


def gold_ranks(retrieved: Sequence[str], gold: Sequence[str]) -> list[int]:
    """1-based ranks of the gold papers among the retrieved titles.

    >>> gold_ranks(["A", "B: x", "C", "b x"], ["b X", "z"])
    [2]
    """
    wanted = set(_titles(gold))
    seen: set[str] = set()
    ranks = []
    for rank, title in enumerate(retrieved, start=1):
        key = normalise_title(title)
        if key in wanted and key not in seen:
            seen.add(key)
            ranks.append(rank)
    return ranks


def hit_at(retrieved: Sequence[str], gold: Sequence[str], k: int = K) -> float | None:
    """1.0 when a gold paper is among the first k retrieved, else 0.0; None without gold.

    >>> hit_at(["a", "b"], ["B"], k=1), hit_at(["a", "b"], ["B"], k=2), hit_at(["a"], [])
    (0.0, 1.0, None)
    """
    if not gold:
        return None
    return 1.0 if any(rank <= k for rank in gold_ranks(retrieved, gold)) else 0.0


def recall_at(retrieved: Sequence[str], gold: Sequence[str], k: int | None = K) -> float | None:
    """Share of the gold papers among the first k retrieved (all retrieved when k is None).

    >>> recall_at(["a", "b", "c"], ["c", "a", "z", "y"], k=2), recall_at(["a", "c"], ["c", "a"], None)
    (0.25, 1.0)
    """
    wanted = _titles(gold)
    if not wanted:
        return None
    found = [rank for rank in gold_ranks(retrieved, gold) if k is None or rank <= k]
    return len(found) / len(wanted)


def reciprocal_rank(retrieved: Sequence[str], gold: Sequence[str]) -> float | None:
    """1 / rank of the first gold paper, 0.0 when none is retrieved; None without gold."""
    if not gold:
        return None
    ranks = gold_ranks(retrieved, gold)
    return 1.0 / ranks[0] if ranks else 0.0


def citation_precision(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the cited papers that are gold; None without citations or without gold.

    >>> citation_precision(["A", "B"], ["a!"]), citation_precision([], ["a"])
    (0.5, None)
    """
    papers = _titles(cited)
    if not papers or not gold:
        return None
    wanted = set(_titles(gold))
    return sum(p in wanted for p in papers) / len(papers)


def keyword_recall(answer: str, keywords: Sequence[str]) -> float | None:
    """Share of the keywords contained in the answer, case- and spacing-insensitively.

    >>> keyword_recall("Uses ReLU and  Convolutional\\nnetworks", ["convolutional networks", "relu", "mixup"])
    0.6666666666666666
    """
    if not keywords:
        return None
    text = " ".join(answer.split()).casefold()
    return sum(" ".join(k.split()).casefold() in text for k in keywords) / len(keywords)


def marker_counts(answer: str, warnings: Sequence[str], n_sources: int) -> tuple[int, int]:
    """(valid, total) cited numbers: a number is valid when it points to a retrieved
    source; numbers the citation checker already removed count as invalid.

    >>> marker_counts("A [1]. B [2, 7].", ["removed citation [9]: no such source"], 5)
    (2, 4)
    """
    numbers = cited_numbers(answer)
    valid = sum(1 <= n <= n_sources for n in numbers)
    removed = sum(1 for w in warnings if w.startswith(REMOVED_CITATION))
    return valid, len(numbers) + removed


def claim_counts(answer: str) -> tuple[int, int]:
    """(claims with a citation, claims) among the answer's sentences.

    >>> claim_counts("## Summary\\nIBP is fast [1]. It is tight. Why?")
    (1, 2)
    """
    claims = [s for s in split_sentences(answer) if is_claim(s)]
    return sum(1 for s in claims if cited_numbers(s)), len(claims)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method); None when empty.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([], 95)
    (2.5, None)
    """
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def retrieval_scores(retrieved: Sequence[str], gold: Sequence[str]) -> dict[str, float | None]:
    """hit@5, recall@5, recall over everything retrieved, and reciprocal rank."""
    return {
        "hit5": hit_at(retrieved, gold),
        "recall5": recall_at(retrieved, gold),
        "recall_all": recall_at(retrieved, gold, None),
        "rr": reciprocal_rank(retrieved, gold),
    }


def score_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The per-question metrics of a results row, and whether the question passed.

    Pass: an answerable question needs a gold paper in the top 5, no refusal and at
    least one gold paper cited; an unanswerable one needs a refusal.
    """
    gold = list(row["gold_titles"])
    retrieved = [r["title"] for r in row["retrieved"]]
    cited = [c["title"] for c in row["citations"]]
    answerable = row["kind"] != UNANSWERABLE
    refused = bool(row["refused"])
    scores: dict[str, Any] = retrieval_scores(retrieved, gold)
    scores["citation_precision"] = (
        citation_precision(cited, gold) if answerable and not refused else None
    )
    # A refusal lists the closest titles; they must not earn keyword credit.
    keywords = row.get("answer_keywords") or []
    recall = keyword_recall(row["answer"], keywords) if answerable else None
    scores["keyword_recall"] = 0.0 if refused and recall is not None else recall
    valid, total = marker_counts(row["answer"], row.get("warnings") or [], len(retrieved))
    scores["valid_markers"], scores["markers"] = valid, total
    scores["citation_validity"] = valid / total if total else None
    cited_claims, claims = claim_counts(row["answer"]) if not refused else (0, 0)
    scores["cited_claims"], scores["claims"] = cited_claims, claims
    scores["cited_sentence_share"] = cited_claims / claims if claims else None
    gold_cited = bool(scores["citation_precision"])
    scores["passed"] = (
        (scores["hit5"] == 1.0 and not refused and gold_cited) if answerable else refused
    )
    scores["failure"] = None if scores["passed"] else failure_reason(row, scores, retrieved, cited)
    return scores


def failure_reason(
    row: Mapping[str, Any],
    scores: Mapping[str, Any],
    retrieved: Sequence[str],
    cited: Sequence[str],
) -> str:
    """What went wrong with a failed question, in a few words."""
    if row.get("error"):
        return f"error: {row['error']}"
    if row["kind"] == UNANSWERABLE:
        n = len(cited)
        return f"answered instead of refusing (cited {n} paper{'' if n == 1 else 's'})"
    reasons = []
    if scores["hit5"] != 1.0:
        ranks = gold_ranks(retrieved, row["gold_titles"])
        reasons.append(
            f"no gold paper in the top {K}" + (f" (first at rank {ranks[0]})" if ranks else "")
        )
    if row["refused"]:
        reasons.append("refused")
    elif not cited:
        reasons.append("cited nothing")
    elif not scores["citation_precision"]:
        reasons.append("cited no gold paper: " + "; ".join(_short(t) for t in cited[:3]))
    return "; ".join(reasons)


def _short(title: str, limit: int = 50) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def groups(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """overall, then each kind present (in KINDS order), then the hard questions."""
    out: dict[str, list[Mapping[str, Any]]] = {OVERALL: list(rows)}
    for kind in KINDS:
        members = [r for r in rows if r["kind"] == kind]
        if members:
            out[kind] = members
    hard = [r for r in rows if r.get("hard")]
    if hard:
        out[HARD] = hard
    return out


def _put(metrics: dict[str, float], name: str, value: float | None) -> None:
    if value is not None:
        metrics[name] = value


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def group_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Averages over one group of scored rows; metrics that do not apply are left out.

    Marker validity, cited-sentence share and support are pooled over all markers,
    sentences and citations of the group; the rest are means over questions.
    """
    answerable = [r for r in rows if r["kind"] != UNANSWERABLE]
    unanswerable = [r for r in rows if r["kind"] == UNANSWERABLE]
    m: dict[str, float] = {}
    for name in ("hit5", "recall5", "recall_all", "rr", "citation_precision", "keyword_recall"):
        _put(m, "mrr" if name == "rr" else name, mean(r[name] for r in answerable))
    _put(m, "pass_rate", mean(float(r["passed"]) for r in rows))
    _put(m, "refusal_accuracy", mean(float(r["refused"]) for r in unanswerable))
    _put(m, "missed_refusal_rate", mean(1.0 - r["refused"] for r in unanswerable))
    _put(m, "false_refusal_rate", mean(float(r["refused"]) for r in answerable))
    _put(
        m,
        "citation_validity",
        _share(sum(r["valid_markers"] for r in rows), sum(r["markers"] for r in rows)),
    )
    _put(
        m,
        "cited_sentence_share",
        _share(sum(r["cited_claims"] for r in rows), sum(r["claims"] for r in rows)),
    )
    supports = [c["support"] for r in rows for c in r["citations"] if c.get("support") is not None]
    _put(m, "support", mean(supports))
    latencies = [r["latency_s"] for r in rows]
    _put(m, "latency_p50_s", percentile(latencies, 50))
    _put(m, "latency_p95_s", percentile(latencies, 95))
    return m


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """group name -> metric name -> value, for scored results rows."""
    return {name: group_metrics(members) for name, members in groups(rows).items()}


def ablation_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """For one retriever mode: hit@5, recall@5 and MRR per group, and the warm p50 latency.

    Rows hold kind, hard, gold_titles, retrieved ({"title": ...} dicts) and latency_s.
    """
    out: dict[str, dict[str, float]] = {}
    for name, members in groups(rows).items():
        scored = [
            retrieval_scores([h["title"] for h in r["retrieved"]], r["gold_titles"])
            for r in members
        ]
        m: dict[str, float] = {}
        for metric in ("hit5", "recall5", "rr"):
            _put(m, "mrr" if metric == "rr" else metric, mean(s[metric] for s in scored))
        if name == OVERALL:
            _put(m, "latency_p50_ms", _ms(percentile([r["latency_s"] for r in members], 50)))
        out[name] = m
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0
