"""The library tab: every indexed paper in a searchable, sortable table, a detail
view, uploads to ingest (with a per-file result table) and removing a paper.

Table cells are plain strings that the Dataframe shows as text, never as HTML. The
table searches, filters and sorts in the browser; the status line above it (its
script: ui/library_script.py) says how many papers are shown, why none are, and
makes a header click sort.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from rag.config import Config
from rag.engine import Engine
from rag.ingest import IngestReport
from rag.types import Paper

from . import cards, library_script, uploads

COLUMNS = ["Title", "Authors", "Year", "Category", "Source file", "Id"]
RESULT_COLUMNS = ["File", "Status", "Format", "Papers", "Added", "Updated", "Unchanged", "Message"]
MAX_AUTHORS_IN_TABLE = 3
# Pixels, not %: on a phone the table scrolls sideways instead of squeezing. Wide
# enough for each header's longest word with its sort icon and ⋮ button; the
# hash-named Source file and Id columns are cut short (ui/style.py), in full on hover.
COLUMN_WIDTHS = [340, 190, 72, 112, 96, 112]
HINT = (
    "Search, click a column header to sort (again to reverse), filter from a header's ⋮ "
    "menu, click a row for the abstract."
)


@dataclass
class LibraryWidgets:
    count: gr.Markdown
    status: gr.HTML  # "N of M papers shown", and why none are; its value: M
    table: gr.Dataframe
    refresh: gr.Button
    detail: gr.HTML
    selected: gr.State  # id of the paper shown in the detail view
    armed: gr.State  # id the remove button was clicked once for
    remove: gr.Button
    files: gr.File
    add: gr.Button
    summary: gr.Markdown
    results: gr.Dataframe


def paper_row(paper: Paper) -> list[str]:
    """One table row: raw text (the Dataframe escapes it).

    >>> paper_row(Paper.create("T", "A.", authors=["A", "B", "C", "D"], year=2020, sources=["x.txt"]))[:5]
    ['T', 'A, B, C et al.', '2020', '', 'x.txt']
    """
    authors = ", ".join(paper.authors[:MAX_AUTHORS_IN_TABLE])
    if len(paper.authors) > MAX_AUTHORS_IN_TABLE:
        authors += " et al."
    return [
        paper.title,
        authors,
        str(paper.year or ""),
        paper.category or "",
        ", ".join(paper.sources),
        paper.paper_id,
    ]


def count_text(n: int) -> str:
    """
    >>> count_text(1), count_text(437)
    ('**1 paper** in the library', '**437 papers** in the library')
    """
    return f"**{n:,} paper{'s' if n != 1 else ''}** in the library"


def library_view(engine: Engine) -> tuple[str, list[list[str]]]:
    papers = engine.papers()
    return count_text(len(papers)), [paper_row(p) for p in papers]


def result_rows(staged: Sequence[uploads.Staged], report: IngestReport | None) -> list[list]:
    """The per-file result table: rejected uploads first-hand, the rest from the report."""
    by_path = {str(s.path): s for s in staged if s.path is not None}
    rows: list[list] = []
    for item in staged:
        if item.error:
            rows.append([item.name, "rejected", "", 0, 0, 0, 0, item.error])
    for result in report.files if report else []:
        name = by_path[result.path].name if result.path in by_path else Path(result.path).name
        notes = []
        if result.error:
            notes.append(result.error)
        if result.skipped:
            notes.append(f"{len(result.skipped)} entries skipped without abstract")
        notes.extend(result.problems[:3])
        if len(result.problems) > 3:
            notes.append(f"and {len(result.problems) - 3} more problems")
        rows.append(
            [
                name,
                result.status,
                result.format or "",
                result.papers,
                result.added,
                result.updated,
                result.unchanged,
                "; ".join(notes),
            ]
        )
    return rows


def make_ingest(engine: Engine, config: Config):
    limits = uploads.Limits.from_config(config)
    root = uploads.uploads_root(config)

    def ingest(files: list[str] | None, progress=gr.Progress()):  # noqa: B008 - Gradio's idiom
        if not files:
            raise gr.Error("Choose one or more files to add first.")
        progress(0, desc="checking files")
        staged = uploads.stage(files, root, limits, [Path(get_upload_folder())])
        accepted = [s for s in staged if s.path is not None]
        report = None
        if accepted:

            def update(done: int, total: int, message: str) -> None:
                progress((done, total), desc=f"ingesting {message}", unit="papers")

            report = engine.ingest([s.path for s in accepted], progress=update)
            rejected = {r.path for r in report.files if r.error}
            for item in accepted:
                if str(item.path) in rejected:
                    uploads.discard(item)
        rows = result_rows(staged, report)
        rejected_count = sum(1 for r in rows if r[1] == "rejected")
        summary = report.summary() if report else "nothing ingested"
        if rejected_count:
            summary += f"; {rejected_count} file(s) rejected (see Message)"
        count, table = library_view(engine)
        return summary, rows, count, table, None

    return ingest


def show_paper(engine: Engine, paper_id: str | None) -> tuple[str, str | None, dict]:
    paper = engine.paper(paper_id or "")
    if paper is None:
        return (
            '<p class="src-empty">Select a paper in the table to see its abstract.</p>',
            None,
            gr.Button(interactive=False, value="Remove paper"),
        )
    return (
        cards.paper_detail_html(paper),
        paper.paper_id,
        gr.Button(interactive=True, value="Remove paper"),
    )


def make_remove(engine: Engine):
    def remove_clicked(paper_id: str | None, armed: str | None):
        """Two clicks: the first arms the button, the second removes the paper."""
        if not paper_id or engine.paper(paper_id) is None:
            raise gr.Error("Select a paper in the table first.")
        if armed != paper_id:
            return (
                gr.skip(),
                gr.skip(),
                gr.skip(),
                paper_id,
                gr.Button(value="Click again to remove", variant="stop"),
            )
        removed = engine.remove([paper_id])
        count, table = library_view(engine)
        note = (
            '<p class="src-empty">Removed.</p>'
            if removed
            else '<p class="src-empty">Already gone.</p>'
        )
        return (
            count,
            table,
            note,
            None,
            gr.Button(value="Remove paper", variant="secondary", interactive=False),
        )

    return remove_clicked


def build(engine: Engine) -> LibraryWidgets:
    count_md, rows = library_view(engine)
    with gr.Row(elem_classes="library-head"):
        count = gr.Markdown(count_md, elem_id="paper-count")
        refresh = gr.Button("Refresh", size="sm", scale=0, min_width=90)
    gr.Markdown(HINT, elem_classes="hint")
    status = gr.HTML(
        len(rows),
        html_template=library_script.STATUS_HTML,
        css_template=library_script.STATUS_CSS,
        js_on_load=library_script.JS,
        elem_id="library-status",
    )
    table = gr.Dataframe(
        value=rows,
        headers=COLUMNS,
        datatype="str",
        interactive=False,
        show_search="search",
        wrap=True,
        max_height=520,
        column_widths=COLUMN_WIDTHS,
        label="Papers",
        show_label=False,
        elem_id="library-table",
    )
    with gr.Row(equal_height=False, elem_classes="library-detail"):
        detail = gr.HTML(
            '<p class="src-empty">Select a paper in the table to see its abstract.</p>',
            elem_id="paper-detail",
        )
    selected = gr.State(None)
    armed = gr.State(None)
    remove = gr.Button(
        "Remove paper", interactive=False, size="sm", elem_id="remove-paper", scale=0
    )
    gr.Markdown("### Add papers")
    gr.Markdown(
        "Listing pages (.txt), BibTeX (.bib), JSON / JSON lines (.json, .jsonl) or CSV / TSV "
        "(.csv, .tsv) with title and abstract columns.",
        elem_classes="hint",
    )
    files = gr.File(file_count="multiple", type="filepath", label="Files to add", elem_id="upload")
    add = gr.Button("Add to library", variant="primary", elem_id="add-files")
    summary = gr.Markdown(elem_id="ingest-summary")
    results = gr.Dataframe(
        headers=RESULT_COLUMNS,
        datatype=["str", "str", "str", "number", "number", "number", "number", "str"],
        interactive=False,
        wrap=True,
        column_widths=[150, 80, 150, 60, 60, 70, 80, 260],
        label="Per-file results",
        elem_id="ingest-results",
    )
    return LibraryWidgets(
        count, status, table, refresh, detail, selected, armed, remove, files, add, summary, results
    )


def wire(engine: Engine, config: Config, lib: LibraryWidgets) -> None:
    def select(evt: gr.SelectData):
        row = evt.row_value or []
        detail, pid, button = show_paper(engine, row[-1] if row else None)
        return detail, pid, button, None

    def refresh():
        return library_view(engine)

    def papers() -> list[dict]:
        """Every paper in the library with its metadata."""
        return [p.to_dict() for p in engine.papers()]

    def remove(paper_ids: list[str]) -> list[str]:
        """Remove papers by id; returns the ids that were in the library."""
        return engine.remove(list(paper_ids))

    lib.table.select(
        select, None, [lib.detail, lib.selected, lib.remove, lib.armed], api_visibility="private"
    )
    lib.refresh.click(refresh, None, [lib.count, lib.table], api_name="library")
    # Every change of the library changes the count line; the status line's total follows.
    lib.count.change(engine.count, None, lib.status, api_visibility="private")
    lib.add.click(
        make_ingest(engine, config),
        [lib.files],
        [lib.summary, lib.results, lib.count, lib.table, lib.files],
        api_name="ingest",
        show_progress_on=[lib.summary],
        concurrency_limit=1,
        concurrency_id="library-write",
    )
    lib.remove.click(
        make_remove(engine),
        [lib.selected, lib.armed],
        [lib.count, lib.table, lib.detail, lib.armed, lib.remove],
        api_visibility="private",
        concurrency_limit=1,
        concurrency_id="library-write",
    )
    gr.api(papers, api_name="papers")
    gr.api(remove, api_name="remove", concurrency_limit=1, concurrency_id="library-write")
