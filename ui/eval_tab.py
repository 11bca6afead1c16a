"""The eval tab: run the canned questions (or an uploaded question file) with the
current answer settings, then show the metrics per kind, a chart, every question's
result and the files to download. The scoring is rag.evaluation's; this only shows it.

Until a run finishes the results stay hidden behind a line saying what to do. A run
can be cancelled: the button stops the wait, and the run itself stops at its next
question (the flag is read by the progress callback), so nothing keeps the cores busy.
Charts use the Okabe-Ito palette (distinct for the common colour-vision deficiencies)
on a transparent background with mid-grey text, readable in light and dark themes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from rag.config import Config
from rag.engine import Engine
from rag.errors import RagError

from . import scratch, uploads
from . import settings as settings_ui

CHART_METRICS = (("hit5", "hit@5"), ("mrr", "MRR"))
COLOURS = ("#0072B2", "#E69F00")  # Okabe-Ito blue and orange
INK = "#8a8f98"  # text and axes: legible on white and on the dark theme's grey
EMPTY = (
    "No eval run yet: leave the file empty for the canned questions (eval/questions.jsonl) "
    "or choose your own, then press **Run eval**."
)
CANCELLED = "Eval cancelled before it finished."
PASS, FAIL = "✓ pass", "✗ fail"  # symbols every common font has (no emoji font needed)
QUESTION_COLUMNS = [
    "Id",
    "Kind",
    "Result",
    "hit@5",
    "RR",
    "Latency (s)",
    "Question",
    "Why it failed",
]


@dataclass
class EvalWidgets:
    questions: gr.File
    ablation: gr.Checkbox
    run: gr.Button
    cancel: gr.Button
    flag: gr.State
    results: gr.Column
    summary: gr.Markdown
    metrics: gr.Dataframe
    chart: gr.Plot
    latency: gr.Plot
    rows: gr.Dataframe
    files: gr.File
    benchmarks: gr.Dataframe
    benchmark_note: gr.Markdown
    refresh: gr.Button


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def metrics_table(
    metrics: Mapping[str, Mapping[str, float]],
    counts: Mapping[str, int],
    labels: Mapping[str, str],
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one column per group (overall, each kind, hard), one row per
    metric, so the table stays narrow enough for a phone.

    >>> metrics_table({"overall": {"hit5": 1.0}, "factoid": {"hit5": 0.5, "mrr": 0.25}},
    ...               {"overall": 2, "factoid": 2}, {"hit5": "hit@5"})
    (['metric', 'overall', 'factoid'], [['questions', '2', '2'], ['hit@5', '1.000', '0.500'], ['mrr', '', '0.250']])
    """
    names: list[str] = []
    for values in metrics.values():
        names.extend(n for n in values if n not in names)
    ordered = [n for n in labels if n in names] + [n for n in names if n not in labels]
    groups = list(metrics)
    rows = [["questions", *(_fmt(counts.get(g, "")) for g in groups)]]
    rows += [[labels.get(n, n), *(_fmt(metrics[g].get(n)) for g in groups)] for n in ordered]
    return ["metric", *groups], rows


BENCHMARK_COLUMNS = [
    "benchmark", "split", "retriever", "nDCG@10", "recall@10", "recall@100", "MRR@10",
    "p50 ms", "failed", "queries", "model", "run",
]  # fmt: skip
NO_BENCHMARK = (
    "No retrieval benchmark has been run yet. `rag bench-retrieval DIR --split train` (a "
    "BEIR-format dataset, e.g. ../shared/benchmarks/scifact) writes one to "
    "RAG_EVAL_OUT/beir-NAME-SPLIT (eval/out by default); it shows here."
)


def benchmark_rows(reports: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One row per saved benchmark report and retriever mode (saved_reports' order)."""
    rows = []
    for report in reports:
        for mode, m in report["modes"].items():
            if not isinstance(m, Mapping):
                continue
            rows.append(
                [
                    str(report.get("benchmark", "")),
                    str(report.get("split", "")),
                    mode,
                    *(_fmt(m.get(k)) for k in ("ndcg10", "recall10", "recall100", "mrr10")),
                    _fmt(m.get("latency_p50_ms")),
                    _fmt(m.get("failed")),
                    _fmt(report.get("queries")),
                    str(report.get("embed_model", "")),
                    str(report.get("created", "")).replace("T", " "),
                ]
            )
    return rows


def benchmarks(folder: Path):
    """The benchmark table's value, and the note above it."""
    import pandas as pd

    from rag.evaluation.benchmark import saved_reports

    reports = saved_reports(folder)
    rows = benchmark_rows(reports)
    note = NO_BENCHMARK if not rows else (
        f"{len(reports)} benchmark run(s) in {folder}, newest first; "
        "the full reports are report.md beside each report.json."
    )  # fmt: skip
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS), note


def question_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """One table row per question, with pass/fail.

    >>> question_rows([{"id": "q1", "kind": "factoid", "passed": True, "hit5": 1.0, "rr": 0.5, "latency_s": 0.12, "question": "Why?", "failure": None}])
    [['q1', 'factoid', '✓ pass', '1.000', '0.500', '0.120', 'Why?', '']]
    """
    return [
        [
            str(r.get("id", "")),
            str(r.get("kind", "")),
            PASS if r.get("passed") else FAIL,
            _fmt(r.get("hit5")),
            _fmt(r.get("rr")),
            _fmt(r.get("latency_s")),
            str(r.get("question", "")),
            str(r.get("failure") or ""),
        ]
        for r in rows
    ]


def quality_chart(metrics: Mapping[str, Mapping[str, float]]):
    """hit@5 and MRR per group (overall, each kind, hard) as grouped bars."""

    fig, ax = _figure()
    groups = [g for g, values in metrics.items() if any(k in values for k, _ in CHART_METRICS)]
    width = 0.8 / len(CHART_METRICS)
    for i, (key, label) in enumerate(CHART_METRICS):
        xs = [j + (i - (len(CHART_METRICS) - 1) / 2) * width for j in range(len(groups))]
        values = [metrics[g].get(key, 0.0) for g in groups]
        drawn = ax.bar(xs, values, width, label=label, color=COLOURS[i % len(COLOURS)])
        ax.bar_label(drawn, fmt="%.2f", fontsize=8, padding=1, color=INK)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylim(0, 1.25)
    ax.set_title("Retrieval quality by question kind")
    ax.legend(loc="upper center", ncols=len(CHART_METRICS), frameon=False, labelcolor=INK)
    return fig


def _figure():
    """A figure and its axes with a transparent background and grey ink."""
    from matplotlib.figure import Figure  # no pyplot: no global state across sessions

    fig = Figure(figsize=(6, 3.6), layout="constrained", facecolor="none")
    ax = fig.subplots()
    ax.set_facecolor("none")
    ax.tick_params(colors=INK)
    for spine in ax.spines.values():
        spine.set_color(INK)
    ax.title.set_color(INK)
    ax.xaxis.label.set_color(INK)
    ax.yaxis.label.set_color(INK)
    return fig, ax


def latency_chart(latencies: Sequence[float]):
    """The histogram of answer latencies."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure()
    ax.hist(list(latencies), bins=min(20, max(5, len(latencies) // 3)), color=COLOURS[0])
    ax.set_title("Answer latency")
    ax.set_xlabel("seconds")
    ax.set_ylabel("questions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


class CancelFlag:
    """One session's "cancel the running eval" flag (a fresh one per session: Gradio
    copies a State's default value, and an Event cannot be copied)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __deepcopy__(self, memo: dict) -> CancelFlag:
        return CancelFlag()


def make_run(engine: Engine, config: Config):
    limits = uploads.Limits(
        uploads.Limits.from_config(config).max_bytes, 1, uploads.QUESTION_EXTENSIONS
    )
    root = uploads.uploads_root(config)

    def run(
        question_file: str | None,
        ablation: bool,
        backend: str | None,
        top_k: float | None,
        authors: str | None,
        since: str | None,
        until: str | None,
        categories: list[str] | None,
        include_undated: bool | None,
        flag: CancelFlag | None = None,
        progress=gr.Progress(),  # noqa: B008 - how Gradio hands a handler its progress bar
    ):
        import pandas as pd

        from rag.evaluation import run_eval
        from rag.evaluation.metrics import groups
        from rag.evaluation.report import METRIC_LABELS

        questions = None
        if question_file:
            staged = uploads.stage([question_file], root, limits, [Path(get_upload_folder())])[0]
            if staged.error:
                raise gr.Error(f"{staged.name}: {staged.error}")
            questions = staged.path
        out = scratch.new_folder("eval-")

        flag = flag or CancelFlag()
        flag.event.clear()

        def update(done: int, total: int, message: str) -> None:
            if flag.event.is_set():  # Cancel: stop at the next question
                raise gr.Error(CANCELLED)
            progress((done, total), desc=message, unit="steps")  # answers, then ablation retrievals

        try:
            options = settings_ui.read(
                backend, top_k, authors, since, until, categories, include_undated
            )
            report = run_eval(
                engine, questions, out, ablation=bool(ablation), progress=update, **options
            )
        except RagError as exc:
            raise gr.Error(str(exc)) from None
        counts = {name: len(members) for name, members in groups(report.rows).items()}
        headers, rows = metrics_table(report.metrics, counts, METRIC_LABELS)
        latencies = [float(r["latency_s"]) for r in report.rows]
        return (
            f"```\n{report.summary()}\n```",
            pd.DataFrame(rows, columns=headers),  # a value with its own headers
            quality_chart(report.metrics),
            latency_chart(latencies),
            question_rows(report.rows),
            [str(report.results_path), str(report.report_path)],
        )

    return run


def build(reports_dir: Path) -> EvalWidgets:
    gr.Markdown(
        "Runs the canned questions (eval/questions.jsonl) or your own question file "
        "(JSON lines, format in eval/README.md) with the answer settings in the sidebar.",
        elem_classes="hint",
    )
    with gr.Row(equal_height=False):
        questions = gr.File(
            label="Question file (optional, .jsonl)",
            type="filepath",
            file_count="single",
            elem_id="eval-questions",
        )
        with gr.Column(min_width=200):
            ablation = gr.Checkbox(label="Also run the retriever ablation (slower)", value=False)
            run = gr.Button("Run eval", variant="primary", elem_id="run-eval")
            cancel = gr.Button("Cancel", variant="stop", visible=False, elem_id="cancel-eval")
    flag = gr.State(CancelFlag())
    summary = gr.Markdown(EMPTY, elem_id="eval-summary")
    with gr.Column(visible=False, elem_id="eval-results") as results:
        metrics = gr.Dataframe(
            label="Metrics by question kind", interactive=False, wrap=True, elem_id="eval-metrics"
        )
        with gr.Row(elem_classes="eval-charts"):
            plot = gr.Plot(show_label=False, min_width=300, elem_id="eval-chart")
            latency = gr.Plot(show_label=False, min_width=300, elem_id="eval-latency")
        rows = gr.Dataframe(
            headers=QUESTION_COLUMNS,
            label="Per-question results",
            interactive=False,
            wrap=True,
            column_widths=[70, 90, 80, 60, 60, 80, 380, 260],
            max_height=420,
            elem_id="eval-rows",
        )
        files = gr.File(
            label="Downloads: results.jsonl and report.md",
            file_count="multiple",
            interactive=False,
            elem_id="eval-files",
        )
    with gr.Accordion("Retrieval benchmarks (BEIR)", open=False, elem_id="eval-benchmarks"):
        table, note = benchmarks(reports_dir)
        benchmark_note = gr.Markdown(note, elem_classes="hint", elem_id="eval-benchmarks-note")
        benchmark_table = gr.Dataframe(
            value=table,
            headers=BENCHMARK_COLUMNS,
            interactive=False,
            wrap=True,
            show_label=False,
            elem_id="eval-benchmarks-table",
        )
        refresh = gr.Button("Reload benchmark reports", size="sm", elem_id="eval-benchmarks-reload")
    refresh.click(
        lambda: benchmarks(reports_dir),
        None,
        [benchmark_table, benchmark_note],
        api_name="benchmarks",
        queue=False,
    )
    return EvalWidgets(
        questions, ablation, run, cancel, flag, results, summary, metrics, plot, latency, rows,
        files, benchmark_table, benchmark_note, refresh,
    )  # fmt: skip


def wire(
    engine: Engine, config: Config, widgets: EvalWidgets, settings: settings_ui.SettingsWidgets
) -> None:
    buttons = [widgets.run, widgets.cancel]
    private = {"inputs": None, "outputs": buttons, "api_visibility": "private", "queue": False}
    running = widgets.run.click(
        lambda: (gr.Button(visible=False), gr.Button(visible=True)), **private
    ).then(
        make_run(engine, config),
        [widgets.questions, widgets.ablation, *settings.answer_inputs, widgets.flag],
        [
            widgets.summary,
            widgets.metrics,
            widgets.chart,
            widgets.latency,
            widgets.rows,
            widgets.files,
        ],
        api_name="eval",
        show_progress_on=[widgets.summary],
        concurrency_limit=1,
        concurrency_id="eval",
    )
    running.success(
        lambda: gr.Column(visible=True),
        None,
        widgets.results,
        api_visibility="private",
        queue=False,
    )
    idle = {"fn": lambda: (gr.Button(visible=True), gr.Button(visible=False)), **private}
    running.then(**idle)

    def cancel(flag: CancelFlag | None):
        if flag is not None:
            flag.event.set()  # the run stops at its next question
        return CANCELLED

    # Not queued: it must run while the eval holds the queue's slot.
    widgets.cancel.click(
        cancel,
        widgets.flag,
        widgets.summary,
        cancels=[running],
        api_visibility="private",
        queue=False,
    ).then(**idle)
