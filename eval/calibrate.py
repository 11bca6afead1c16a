"""Sweep the extractive answerer's refusal threshold over an eval run's scores.

    .venv/bin/python eval/calibrate.py eval/out/results.jsonl

The extractive answerer refuses when the best sentence score of the retrieved
papers is below REFUSE_BELOW. For each threshold this prints the refusal accuracy
on unanswerable questions and the false refusal rate on answerable ones, then the
threshold that refuses the most unanswerable questions while refusing at most 5%
of the answerable ones. It writes the same text to calibration.txt next to the
results and changes no code: copy a threshold into rag/answer/extractive.py by hand.

The answerer also refuses for reasons no threshold changes (a name in the
question that no retrieved paper mentions, a quantity asked for and no figure in
the passages), and a question whose run raised an error (a filter matching
nothing) is refused too: such rows are refused at every threshold. A row is known
to be refused for another reason only when its score passed the threshold of the
run (`refuse_below` in the row), so the sweep is exact for thresholds at or above
that one; below it, those rows are assumed to pass the other checks. The sweep
simulates the extractive backend only: an LLM decides its own refusals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What the extractive answerer compares with its threshold; top_sentence_score (the
# reranker's sentence score of the first hit, title included) is the alternative.
DEFAULT_FIELD = "best_sentence_score"
MAX_FALSE_REFUSALS = 0.05


@dataclass(frozen=True)
class Point:
    threshold: float
    refusal_accuracy: float | None  # unanswerable questions refused
    false_refusal_rate: float | None  # answerable questions refused
    accuracy: float  # all questions handled right (refused iff unanswerable)


def other_refusal(row: dict[str, Any]) -> bool:
    """Refused for a reason other than the score threshold: an error, or a refusal
    although the answerer's score passed the run's threshold.

    >>> other_refusal({"refused": True, "best_sentence_score": 0.7, "refuse_below": 0.45})
    True
    >>> other_refusal({"refused": True, "best_sentence_score": 0.3, "refuse_below": 0.45})
    False
    """
    if row.get("error"):
        return True
    best, limit = row.get("best_sentence_score"), row.get("refuse_below")
    return bool(row.get("refused")) and best is not None and limit is not None and best >= limit


def refuses(row: dict[str, Any], threshold: float, field: str) -> bool:
    """Whether the extractive answerer would refuse this row at this threshold.

    >>> refuses({"s": 0.4}, 0.45, "s"), refuses({"s": 0.5}, 0.45, "s"), refuses({"error": "x", "s": 0.9}, 0.45, "s")
    (True, False, True)
    """
    score = row.get(field)
    return other_refusal(row) or score is None or score < threshold


def sweep(rows: Sequence[dict[str, Any]], thresholds: Sequence[float], field: str) -> list[Point]:
    """One Point per threshold.

    >>> rows = [{"kind": "unanswerable", "s": 0.3}, {"kind": "factoid", "s": 0.6}]
    >>> sweep(rows, [0.5], "s")
    [Point(threshold=0.5, refusal_accuracy=1.0, false_refusal_rate=0.0, accuracy=1.0)]
    """
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    points = []
    for t in thresholds:
        refused_u = sum(refuses(r, t, field) for r in unanswerable)
        refused_a = sum(refuses(r, t, field) for r in answerable)
        points.append(
            Point(
                threshold=round(t, 4),
                refusal_accuracy=refused_u / len(unanswerable) if unanswerable else None,
                false_refusal_rate=refused_a / len(answerable) if answerable else None,
                accuracy=(refused_u + len(answerable) - refused_a) / max(len(rows), 1),
            )
        )
    return points


def best(points: Sequence[Point], max_false: float = MAX_FALSE_REFUSALS) -> Point | None:
    """The threshold with the highest refusal accuracy among those with false refusals
    <= max_false; among ties, the fewest false refusals, then the middle threshold
    (the widest margin either way).

    >>> pts = [Point(t / 10, t / 10, t / 20, 0.0) for t in range(5)]
    >>> best(pts, 0.1).threshold
    0.2
    """
    ok = [
        p for p in points if p.false_refusal_rate is not None and p.false_refusal_rate <= max_false
    ]
    if not ok:
        return None
    top = max(p.refusal_accuracy or 0.0 for p in ok)
    tied = [p for p in ok if (p.refusal_accuracy or 0.0) == top]
    fewest = min(p.false_refusal_rate or 0.0 for p in tied)
    tied = [p for p in tied if (p.false_refusal_rate or 0.0) == fewest]
    return tied[len(tied) // 2]


def grid(start: float, stop: float, step: float) -> list[float]:
    """Thresholds from start to stop inclusive.

    >>> grid(0.3, 0.5, 0.1)
    [0.3, 0.4, 0.5]
    """
    count = int(round((stop - start) / step))
    return [round(start + i * step, 4) for i in range(count + 1)]


def _f(value: float | None) -> str:
    return "   –" if value is None else f"{value:.2f}"


def report(
    rows: Sequence[dict[str, Any]],
    points: Sequence[Point],
    field: str,
    source: str,
    current: float | None,
    max_false: float = MAX_FALSE_REFUSALS,
) -> str:
    """The printed text: header, the sweep table, the chosen threshold."""
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    others = sum(1 for r in rows if other_refusal(r))
    lines = [
        f"refusal threshold sweep over {field} in {source}",
        f"{len(answerable)} answerable, {len(unanswerable)} unanswerable questions; "
        f"{others} refused for another reason (an error, a missing name or figure) at every threshold",
    ]
    backends = sorted(
        {r["backend"] for r in rows if r.get("backend") and r["backend"] != "extractive"}
    )
    if backends:
        lines.append(
            f"warning: answers from {', '.join(backends)}: the sweep simulates extractive only"
        )
    if answerable and unanswerable and all("refused" in r for r in rows):
        lines.append(
            f"this run: refusal accuracy {_f(sum(r['refused'] for r in unanswerable) / len(unanswerable))}, "
            f"false refusals {_f(sum(r['refused'] for r in answerable) / len(answerable))}"
        )
    scores = sorted(
        r[field] for r in unanswerable if r.get(field) is not None and not r.get("error")
    )
    lines.append("unanswerable scores: " + ", ".join(f"{s:.2f}" for s in scores))
    if current is not None:
        (now,) = sweep(rows, [current], field)
        lines.append(
            f"current REFUSE_BELOW {current:.2f}: refusal accuracy {_f(now.refusal_accuracy)}, "
            f"false refusals {_f(now.false_refusal_rate)}, accuracy {_f(now.accuracy)}"
        )
    lines += ["", "threshold  refusal_accuracy  false_refusals  accuracy"]
    lines += [
        f"{p.threshold:9.2f}  {_f(p.refusal_accuracy):>16}  {_f(p.false_refusal_rate):>14}  "
        f"{_f(p.accuracy):>8}"
        for p in points
    ]
    chosen = best(points, max_false)
    lines.append("")
    if chosen is None:
        lines.append(f"no threshold keeps false refusals <= {max_false:.2f}")
    else:
        lines.append(
            f"best threshold with false refusals <= {max_false:.2f}: {chosen.threshold:.2f} "
            f"(refusal accuracy {_f(chosen.refusal_accuracy)}, false refusals "
            f"{_f(chosen.false_refusal_rate)}, accuracy {_f(chosen.accuracy)})"
        )
    return "\n".join(lines)


def load(path: Path, field: str) -> list[dict[str, Any]]:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if not rows:
        raise SystemExit(f"{path}: no rows: run `rag eval` first")
    for number, row in enumerate(rows, start=1):
        if "kind" not in row or field not in row:
            raise SystemExit(
                f"{path}:{number}: no '{field}' or 'kind': is this a `rag eval` results.jsonl?"
            )
    return rows


def _current_threshold() -> float | None:
    try:
        from rag.answer.extractive import REFUSE_BELOW
    except ImportError:
        return None
    return float(REFUSE_BELOW)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="?", default=Path("eval/out/results.jsonl"))
    parser.add_argument("--field", default=DEFAULT_FIELD, help=f"score to sweep [{DEFAULT_FIELD}]")
    parser.add_argument("--start", type=float, default=0.20)
    parser.add_argument("--stop", type=float, default=0.80)
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument("--max-false", type=float, default=MAX_FALSE_REFUSALS)
    parser.add_argument("--out", type=Path, default=None, help="[calibration.txt next to RESULTS]")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        raise SystemExit(f"{args.results}: no such file: run `rag eval` first")
    rows = load(args.results, args.field)
    points = sweep(rows, grid(args.start, args.stop, args.step), args.field)
    text = report(rows, points, args.field, str(args.results), _current_threshold(), args.max_false)
    out = args.out or args.results.with_name("calibration.txt")
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
