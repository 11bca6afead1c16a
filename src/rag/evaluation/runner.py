"""Runs the eval questions through the engine and writes the results and the report.

    report = run_eval(engine, None, Path("eval/out"))
    print(report.summary())

Every question goes through `engine.ask`, the same path as `rag ask`; a RagError
for one question (a filter matching nothing, say) is recorded as a refusal with
the error as its answer, and the run goes on. The ablation calls
`engine.retrieve` once per retriever mode for every answerable question.

Files written to `out`: results.jsonl (one row per question: the `rag ask --json`
fields plus gold data and per-question metrics), ablation.jsonl (one row per mode
and question), report.json (the aggregated numbers, for the UI) and report.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import PROJECT_ROOT
from ..errors import EmptyStoreError, InputError, RagError
from ..types import Filters, normalise_title
from .metrics import K, ablation_metrics, aggregate, groups, retrieval_scores, score_row
from .questions import Question, load_questions
from .report import METRIC_LABELS, comparison_table, format_report, format_summary, tuning_note

if TYPE_CHECKING:
    from ..engine import Engine

MODES = ("dense", "bm25", "hybrid", "hybrid+rerank")
DEFAULT_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"
# What `rag eval` runs by default: the files the answerer was tuned on, then the
# held-out files (written after tuning; blind*.jsonl by writers who saw no code).
DEFAULT_SETS = tuple(
    PROJECT_ROOT / "eval" / f
    for f in (
        "questions.jsonl",
        "train.jsonl",
        "holdout.jsonl",
        "blind.jsonl",
        "blind2.jsonl",
        "blind3.jsonl",
    )
)
Progress = Callable[[int, int, str], None]


@dataclass
class EvalReport:
    metrics: dict[str, dict[str, float]]  # group (overall, kind, hard) -> metric -> value
    ablation: dict[str, dict[str, dict[str, float]]]  # mode -> group -> metric -> value
    rows: list[dict[str, Any]]  # the results.jsonl rows
    backend: str
    results_path: Path
    report_path: Path
    json_path: Path
    data: dict[str, Any]  # what report.json holds

    def summary(self) -> str:
        counts = {name: len(members) for name, members in groups(self.rows).items()}
        header = f"{self.data['questions_file']} ({tuning_note(self.data)})\n"
        return header + format_summary(self.metrics, counts, self.backend)


def run_eval(
    engine: Engine,
    questions: Path | None = None,
    out: Path = Path("eval/out"),
    ablation: bool = True,
    progress: Progress | None = None,
    llm: str | None = None,
    top_k: int | None = None,
    filters: Filters | None = None,
) -> EvalReport:
    """Answer every question, score it, run the retriever ablation, write the files."""
    path = Path(questions) if questions else DEFAULT_QUESTIONS
    items = load_questions(path)
    papers = engine.papers()
    if not papers:
        raise EmptyStoreError(
            f"the library at {engine.store.location} is empty: run `rag ingest` first"
        )
    out = Path(out)
    ensure_writable(out)
    answerable = [q for q in items if q.answerable]
    total = len(items) + (len(MODES) * len(answerable) if ablation else 0)
    done = 0

    def tick(message: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total, message)

    requested = llm or engine.config.llm
    # One untimed answer first, so model loading does not land in the latency numbers.
    quietly(lambda: engine.ask(items[0].question, top_k=top_k, llm=llm, filters=filters))
    results_path = out / "results.jsonl"
    rows: list[dict[str, Any]] = []
    with results_path.open("w", encoding="utf-8") as fh:
        for q in items:
            row = answer_row(engine, q, requested, llm=llm, top_k=top_k, filters=filters)
            rows.append(row)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()  # a crashed or interrupted run keeps the rows so far
            tick("answering questions")
    modes = (
        run_ablation(engine, answerable, out / "ablation.jsonl", tick, filters)
        if ablation and answerable
        else {}
    )
    metrics = aggregate(rows)
    backends = Counter(r["backend"] for r in rows)
    backend = backends.most_common(1)[0][0]
    data = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "backend": backend,
        "backends": dict(backends),
        "questions_file": _shown(path),
        "tuned_on": engine.tuning.tuned_on,
        "store": engine.store.location,
        "papers": len(papers),
        "top_k": top_k or engine.config.top_k,
        "retriever": engine.config.retriever,
        "counts": {name: len(members) for name, members in groups(rows).items()},
        "metric_labels": METRIC_LABELS,
        "metrics": rounded(metrics),
        "ablation": rounded(modes),
        "failed": [
            {"id": r["id"], "kind": r["kind"], "reason": r["failure"]}
            for r in rows
            if not r["passed"]
        ],
        "notes": missing_gold(items, [p.title for p in papers]) + _error_note(rows),
    }
    json_path, report_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    report_path.write_text(format_report(data), encoding="utf-8")
    return EvalReport(metrics, modes, rows, backend, results_path, report_path, json_path, data)


def run_evals(
    engine: Engine,
    files: Sequence[Path],
    out: Path = Path("eval/out"),
    **options: Any,
) -> tuple[list[EvalReport], Path | None]:
    """run_eval for each file, into out/<file stem>/ when there are several, and a
    side-by-side comparison (out/comparison.md) naming the file the tuning came from."""
    files = list(files) or list(DEFAULT_SETS)
    if len(files) == 1:
        return [run_eval(engine, files[0], out, **options)], None
    stems = [Path(f).stem for f in files]
    if len(set(stems)) < len(stems):
        raise InputError("two question files share a name: rename one, or run them one at a time")
    reports = [run_eval(engine, f, Path(out) / stem, **options) for f, stem in zip(files, stems)]
    data = [r.data for r in reports]
    path = Path(out) / "comparison.md"
    path.write_text(
        f"# Eval by question file\n\nAnswerer tuning fitted on `{data[0].get('tuned_on')}`.\n\n"
        + comparison_table(data)
        + "\n",
        encoding="utf-8",
    )
    return reports, path


def answer_row(
    engine: Engine,
    q: Question,
    requested: str,
    llm: str | None = None,
    top_k: int | None = None,
    filters: Filters | None = None,
) -> dict[str, Any]:
    """One results.jsonl row: the answer's JSON, gold data and the question's metrics."""
    started = time.perf_counter()
    error = None
    try:
        answer = engine.ask(q.question, top_k=top_k, llm=llm, filters=filters)
        data = answer.to_json()
    except RagError as exc:
        error = str(exc)
        data = {
            "answer": error,
            "refused": True,
            "citations": [],
            "retrieved": [],
            "warnings": [],
            "backend": requested,
            "latency_s": round(time.perf_counter() - started, 4),
            "evidence": {},
        }
    row: dict[str, Any] = {"id": q.id, "question": q.question, "kind": q.kind, "hard": q.hard}
    keys = ("answer", "refused", "citations", "retrieved", "warnings", "backend", "latency_s")
    for key in (*keys, "evidence"):
        row[key] = data[key]
    row.update(
        error=error, gold_titles=list(q.gold_titles), answer_keywords=list(q.answer_keywords)
    )
    row.update(score_row(row))
    return row


def run_ablation(
    engine: Engine,
    questions: Sequence[Question],
    path: Path,
    tick: Callable[[str], None],
    filters: Filters | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Retrieve the top K for every question with each retriever mode; metrics per mode."""
    results: dict[str, dict[str, dict[str, float]]] = {}
    with path.open("w", encoding="utf-8") as fh:
        for mode in MODES:
            # Warm-up: the first query of a mode builds caches it should not be timed on.
            quietly(lambda m=mode: engine.retrieve(questions[0].question, K, filters, mode=m))
            rows = []
            for q in questions:
                row = retrieval_row(engine, q, mode, filters)
                rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                tick(f"retriever ablation: {mode}")
            results[mode] = ablation_metrics(rows)
    return results


def retrieval_row(
    engine: Engine, q: Question, mode: str, filters: Filters | None = None
) -> dict[str, Any]:
    started = time.perf_counter()
    error = None
    try:
        retrieval = engine.retrieve(q.question, K, filters, mode=mode)
        hits = [
            {"paper_id": h.paper.paper_id, "title": h.paper.title, "score": round(h.score, 4)}
            for h in retrieval.hits
        ]
        latency = retrieval.latency_s
    except RagError as exc:
        error, hits, latency = str(exc), [], time.perf_counter() - started
    row = {
        "mode": mode,
        "id": q.id,
        "kind": q.kind,
        "hard": q.hard,
        "gold_titles": list(q.gold_titles),
    }
    row.update(retrieved=hits, latency_s=round(latency, 4), error=error)
    row.update(retrieval_scores([h["title"] for h in hits], q.gold_titles))
    return row


def missing_gold(questions: Sequence[Question], titles: Sequence[str]) -> list[str]:
    """Notes for gold titles that are not in the library (such questions cannot pass).

    >>> q = Question("q1", "?", "factoid", ("Known", "Lost paper"), ())
    >>> missing_gold([q], ["known"])
    ["q1: gold title 'Lost paper' is not in the library"]
    """
    library = {normalise_title(t) for t in titles}
    return [
        f"{q.id}: gold title '{t}' is not in the library"
        for q in questions
        for t in q.gold_titles
        if normalise_title(t) not in library
    ]


def _error_note(rows: Sequence[dict[str, Any]]) -> list[str]:
    errors = [r["id"] for r in rows if r["error"]]
    if not errors:
        return []
    return [f"{len(errors)} question(s) raised an error, counted as refused: {', '.join(errors)}"]


def quietly(call: Callable[[], Any]) -> None:
    try:
        call()
    except RagError:
        pass  # the same error is recorded when the question itself runs


def ensure_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"cannot write the eval report to {out} ({exc.strerror}): pass another --out"
        ) from None


def _shown(path: Path) -> str:
    """The question file relative to the project when it is inside it."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value
