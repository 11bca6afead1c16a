"""Pure formatting of the eval report: the report.json data -> report.md and a summary.

>>> fmt(0.8333), fmt(None), fmt(1234.5, 0)
('0.83', '–', '1234')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .metrics import HARD, OVERALL, K

METRIC_LABELS = {
    "hit5": f"hit@{K}",
    "recall5": f"recall@{K}",
    "recall_all": "recall (all retrieved)",
    "mrr": "MRR",
    "citation_precision": "citation precision",
    "keyword_recall": "keyword recall",
    "pass_rate": "pass rate",
    "refusal_accuracy": "refusal accuracy",
    "false_refusal_rate": "false refusals",
    "missed_refusal_rate": "missed refusals",
    "citation_validity": "citation validity",
    "cited_sentence_share": "cited sentences",
    "support": "mean support",
    "latency_p50_s": "latency p50 (s)",
    "latency_p95_s": "latency p95 (s)",
}
ANSWER_COLUMNS = (
    "hit5",
    "recall5",
    "recall_all",
    "mrr",
    "citation_precision",
    "keyword_recall",
    "pass_rate",
)
QUALITY_COLUMNS = (
    "refusal_accuracy",
    "false_refusal_rate",
    "missed_refusal_rate",
    "citation_validity",
    "cited_sentence_share",
    "support",
    "latency_p50_s",
    "latency_p95_s",
)
ABLATION_CELL = ("hit5", "recall5", "mrr")

DEFINITIONS = f"""\
- **hit@{K} / recall@{K} / MRR**: gold papers among the retrieved list (answerable questions;
  titles compared case- and punctuation-insensitively). recall@{K} divides by all gold papers,
  so a question with more than {K} gold papers cannot reach 1; "recall (all retrieved)" also
  counts the longer lists retrieved for "which papers ..." questions.
- **citation precision**: share of cited papers that are gold, over answerable questions that
  were answered with citations. **keyword recall**: share of the expected keywords found in the
  answer (0 for a refused answerable question).
- **pass**: answerable: a gold paper in the top {K}, not refused, and a gold paper cited;
  unanswerable: refused. A question whose run raised an error counts as refused.
- **refusal accuracy**: unanswerable questions refused; **missed refusals** = 1 - that;
  **false refusals**: answerable questions refused.
- **citation validity**: cited numbers that point to a retrieved source (markers the checker
  removed count as invalid). **cited sentences**: answer sentences stating a claim that carry
  a citation. **mean support**: mean similarity of a citing claim to the cited paper's best
  sentence, over all citations."""


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; a dash when the metric does not apply."""
    return "–" if value is None else f"{value:.{digits}f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; pipes inside cells are escaped.

    >>> print(markdown_table(["a", "b"], [[1, "x|y"]]))
    | a | b |
    |---|---|
    | 1 | x\\|y |
    """
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines)


def metrics_table(
    metrics: Mapping[str, Mapping[str, float]], counts: Mapping[str, int], columns: Sequence[str]
) -> str:
    """Rows = groups (overall, kinds, hard), columns = metrics."""
    header = ["group", "n", *(METRIC_LABELS[c] for c in columns)]
    rows = [
        [group, counts.get(group, ""), *(fmt(values.get(c)) for c in columns)]
        for group, values in metrics.items()
    ]
    return markdown_table(header, rows)


def ablation_table(ablation: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Rows = retriever modes; each cell is hit@5 / recall@5 / MRR for one group."""
    groups: list[str] = []
    for per_group in ablation.values():
        groups.extend(g for g in per_group if g not in groups)
    header = ["retriever", *groups, "p50 ms"]
    rows = []
    for mode, per_group in ablation.items():
        cells = [
            " / ".join(fmt(per_group.get(g, {}).get(m)) for m in ABLATION_CELL) for g in groups
        ]
        rows.append([mode, *cells, fmt(per_group.get(OVERALL, {}).get("latency_p50_ms"), 0)])
    return markdown_table(header, rows)


def failed_table(failed: Sequence[Mapping[str, str]]) -> str:
    return markdown_table(
        ["id", "kind", "what went wrong"], [[f["id"], f["kind"], f["reason"]] for f in failed]
    )


def _counts_line(counts: Mapping[str, int]) -> str:
    """
    >>> _counts_line({"overall": 3, "factoid": 2, "unanswerable": 1, "hard": 1})
    '3 (factoid 2, unanswerable 1; 1 hard)'
    """
    parts = [f"{group} {n}" for group, n in counts.items() if group not in (OVERALL, HARD)]
    hard = f"; {counts[HARD]} hard" if counts.get(HARD) else ""
    return f"{counts.get(OVERALL, 0)} ({', '.join(parts)}{hard})"


def format_report(data: Mapping[str, Any]) -> str:
    """report.md from the report.json data."""
    counts = data["counts"]
    overall = data["metrics"].get(OVERALL, {})
    passed = counts.get(OVERALL, 0) - len(data.get("failed", []))
    lines = [
        f"# Eval report, {data['created'][:16].replace('T', ' ')}",
        "",
        f"- Backend: {data['backend']}"
        + (
            f" (answers per backend: {', '.join(f'{k} {v}' for k, v in data['backends'].items())})"
            if len(data.get("backends", {})) > 1
            else ""
        ),
        f"- Questions: `{data['questions_file']}`, {_counts_line(counts)}",
        f"- Tuning: {tuning_note(data)}",
        f"- Library: `{data['store']}`, {data['papers']} papers; top-k {data['top_k']}",
        f"- Passed: {passed} of {counts.get(OVERALL, 0)} (pass rate {fmt(overall.get('pass_rate'))})",
        "",
        "## Retrieval and answers",
        "",
        metrics_table(data["metrics"], counts, ANSWER_COLUMNS),
        "",
        "## Refusals, citations and latency",
        "",
        metrics_table(data["metrics"], counts, QUALITY_COLUMNS),
        "",
    ]
    if data.get("ablation"):
        lines += [
            f"## Retriever ablation (answerable questions, top {K})",
            "",
            f"Each cell: hit@{K} / recall@{K} / MRR. Latency: warm `engine.retrieve` median.",
            "",
            ablation_table(data["ablation"]),
            "",
        ]
    failed = data.get("failed", [])
    lines += [f"## Failed questions ({len(failed)})", ""]
    lines += [failed_table(failed) if failed else "None.", ""]
    if data.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in data["notes"]), ""]
    lines += ["## Definitions", "", DEFINITIONS, ""]
    return "\n".join(lines)


def tuning_note(data: Mapping[str, Any]) -> str:
    """Which file the answerer's models were fitted on, and whether it is this one.

    >>> tuning_note({"questions_file": "eval/blind.jsonl", "tuned_on": "eval/questions.jsonl"})
    'fitted on `eval/questions.jsonl`; this file is held out'
    """
    tuned = data.get("tuned_on") or "unknown"
    if is_tuned(data):
        return f"fitted on `{tuned}`, this file included"
    return f"fitted on `{tuned}`; this file is held out"


def is_tuned(data: Mapping[str, Any]) -> bool:
    """Whether the report's question file is one the tuning was fitted on
    (`tuned_on` names one file, or several joined by " + ").

    >>> is_tuned({"questions_file": "eval/train.jsonl",
    ...           "tuned_on": "eval/questions.jsonl + eval/train.jsonl"})
    True
    """
    tuned = str(data.get("tuned_on") or "").split(" + ")
    return data.get("questions_file") in tuned


# The rows of the side-by-side comparison of question files.
COMPARED = (
    ("hit5", f"hit@{K}"), ("recall5", f"recall@{K}"), ("mrr", "MRR"),
    ("citation_precision", "citation precision"), ("keyword_recall", "keyword recall"),
    ("citation_validity", "citation validity"), ("refusal_accuracy", "refusal accuracy"),
    ("false_refusal_rate", "false refusals"), ("pass_rate", "pass rate"),
)  # fmt: skip


def comparison_table(reports: Sequence[Mapping[str, Any]]) -> str:
    """One column per question file (overall metrics), the tuned file marked.

    >>> print(comparison_table([{"questions_file": "q.jsonl", "tuned_on": "q.jsonl",
    ...     "counts": {"overall": 2}, "metrics": {"overall": {"hit5": 1.0}}}]))
    | metric | q.jsonl (tuned) |
    |---|---|
    | questions | 2 |
    | hit@5 | 1.00 |
    | recall@5 | – |
    | MRR | – |
    | citation precision | – |
    | keyword recall | – |
    | citation validity | – |
    | refusal accuracy | – |
    | false refusals | – |
    | pass rate | – |
    """

    def name(data: Mapping[str, Any]) -> str:
        return f"{Path(data['questions_file']).name} ({'tuned' if is_tuned(data) else 'held out'})"

    lines = [
        "| metric | " + " | ".join(name(d) for d in reports) + " |",
        "|---" * (len(reports) + 1) + "|",
        "| questions | " + " | ".join(str(d["counts"].get(OVERALL, 0)) for d in reports) + " |",
    ]
    for key, label in COMPARED:
        cells = [fmt(d["metrics"].get(OVERALL, {}).get(key)) for d in reports]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_summary(
    metrics: Mapping[str, Mapping[str, float]], counts: Mapping[str, int], backend: str
) -> str:
    """A few lines with the overall numbers, for the CLI.

    >>> print(format_summary({"overall": {"pass_rate": 0.5, "hit5": 1.0}}, {"overall": 2}, "extractive"))
    2 questions, backend extractive: pass rate 0.50
    retrieval: hit@5 1.00, recall@5 –, MRR –
    answers: citation precision –, keyword recall –, citation validity –
    refusals: accuracy –, false refusals –; latency p50 – s, p95 – s
    """
    m = metrics.get(OVERALL, {})
    return "\n".join(
        [
            f"{counts.get(OVERALL, 0)} questions, backend {backend}: pass rate {fmt(m.get('pass_rate'))}",
            f"retrieval: hit@{K} {fmt(m.get('hit5'))}, recall@{K} {fmt(m.get('recall5'))}, "
            f"MRR {fmt(m.get('mrr'))}",
            f"answers: citation precision {fmt(m.get('citation_precision'))}, keyword recall "
            f"{fmt(m.get('keyword_recall'))}, citation validity {fmt(m.get('citation_validity'))}",
            f"refusals: accuracy {fmt(m.get('refusal_accuracy'))}, false refusals "
            f"{fmt(m.get('false_refusal_rate'))}; latency p50 {fmt(m.get('latency_p50_s'))} s, "
            f"p95 {fmt(m.get('latency_p95_s'))} s",
        ]
    )
