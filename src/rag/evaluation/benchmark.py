"""Retrieval on a BEIR-format benchmark: its corpus in a store of its own, every
retriever mode over the split's queries, trec_eval metrics, report.json and report.md.

    data = load_beir(Path("scifact"), "train")
    engine = benchmark_engine(Config.from_env(), data.root / STORE_DIR)
    ingested = ingest_corpus(engine, data)
    report = run_benchmark(engine, data, Path("eval/out/beir-scifact-train"), ingested)
    print(report.summary())

The corpus never goes into the user's library: it is stored as given (ids kept, no
merging; see `Engine.ingest_papers`) in its own embedded store, kept between runs. An
unchanged corpus is not embedded again (papers are matched by id and content hash, and
the hash includes the model and chunking settings), and a store built with another
embedding model is rebuilt. Queries go through `engine.retrieve` with no filters read
from their text. Each query is retrieved twice per mode: the top CUT as the pipeline
ranks them (nDCG@10, recall@10, MRR@10 and the latency), and the top DEPTH for
recall@100, whose first stages reach deeper (so its head may differ a little).

Files written to `out`: results.jsonl (one row per mode and query: ranked ids, grades,
metrics), report.json (the numbers, as `rag eval` writes them) and report.md.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, RagError, StoreError, StoreMismatchError
from ..store import REBUILD_FIX
from .beir import BeirDataset
from .metrics import mean, percentile
from .report import fmt, markdown_table
from .runner import MODES, ensure_writable, quietly, rounded
from .trec import ndcg_at, recall_at, reciprocal_rank_at

if TYPE_CHECKING:
    from ..config import Config
    from ..embedding import Embedder
    from ..engine import Engine
    from ..ingest import IngestReport

STORE_DIR = ".rag-store"  # the default store, inside the benchmark's folder
COLLECTION = "beir"
CUT = 10  # nDCG@10, recall@10, MRR@10: what BEIR reports
DEPTH = 100  # recall@100
METRICS = ("ndcg10", "recall10", "recall100", "mrr10")
LABELS = {
    "ndcg10": "nDCG@10",
    "recall10": "recall@10",
    "recall100": "recall@100",
    "mrr10": "MRR@10",
    "latency_p50_ms": "p50 ms",
    "failed": "failed",
}
DEFINITIONS = f"""\
- trec_eval's definitions, as BEIR reports them. A document is relevant when its grade
  in the qrels is above 0; unjudged documents are not relevant.
- **nDCG@{CUT}**: graded gains (the qrels' scores), log2(rank + 1) discount, divided by the
  ideal ordering of the judged grades. **recall@k**: relevant documents in the top k /
  relevant documents. **MRR@{CUT}**: 1 / rank of the first relevant document in the top
  {CUT}, else 0. Means over the evaluated queries (those with a relevant document).
- The @{CUT} metrics and the latency come from a top-{CUT} retrieval, the pipeline as it
  runs; recall@{DEPTH} from a top-{DEPTH} retrieval of the same query, whose first stages
  take more candidates. **p50 ms**: median warm `engine.retrieve` time of the top-{CUT}
  retrieval. No filters are read from query text. A failed query scores 0."""
Progress = Callable[[int, int, str], None]


@dataclass
class BenchmarkReport:
    modes: dict[str, dict[str, float]]  # mode -> metric -> value
    rows: list[dict[str, Any]]  # the results.jsonl rows
    results_path: Path
    report_path: Path
    json_path: Path
    data: dict[str, Any]  # what report.json holds

    def summary(self) -> str:
        return format_summary(self.data)


def benchmark_engine(config: Config, store: Path, embedder: Embedder | None = None) -> Engine:
    """An engine over the benchmark's own embedded store (never a Chroma server's, nor
    the library RAG_STORE names)."""
    from ..engine import Engine

    try:
        Path(store).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the benchmark store {store} ({exc.strerror}): pass --store DIR"
        ) from None
    config = dataclasses.replace(config, store=Path(store), chroma_url=None, collection=COLLECTION)
    return Engine(config, embedder)


@dataclass(frozen=True)
class Ingested:
    report: IngestReport
    rebuilt: str | None  # why the store was built again, if it was


def ingest_corpus(
    engine: Engine, data: BeirDataset, progress: Progress | None = None, rebuild: bool = False
) -> Ingested:
    """Bring the benchmark store in line with the corpus; only changed text is embedded."""
    try:
        return Ingested(engine.ingest_papers(data.corpus, progress, rebuild=rebuild), None)
    except StoreMismatchError as exc:  # another embedding model or version: ours to rebuild
        return Ingested(engine.ingest_papers(data.corpus, progress, rebuild=True), _cause(exc))
    except StoreError as exc:  # damaged files: the store's own fix names `rag ingest`
        raise StoreError(f"{_cause(exc)}: run again with --rebuild") from None


def _cause(exc: StoreError) -> str:
    """A store error without the fix it suggests for the library (`rag ingest --rebuild`)."""
    return str(exc).removesuffix(f": {REBUILD_FIX}")


def run_benchmark(
    engine: Engine,
    data: BeirDataset,
    out: Path,
    ingested: Ingested | None = None,
    progress: Progress | None = None,
) -> BenchmarkReport:
    """Retrieve every query with every mode, score it, write the files."""
    out = Path(out)
    ensure_writable(out)
    queries = list(data.queries.items())
    total, done = len(MODES) * len(queries), 0
    rows: list[dict[str, Any]] = []
    modes: dict[str, dict[str, float]] = {}
    results_path = out / "results.jsonl"
    with results_path.open("w", encoding="utf-8") as fh:
        for mode in MODES:
            # Warm-up: the first query of a mode builds caches it should not be timed on.
            quietly(lambda m=mode: engine.retrieve(queries[0][1], CUT, mode=m, read_filters=False))
            mode_rows = []
            for qid, text in queries:
                row = query_row(engine, mode, qid, text, data.qrels[qid])
                mode_rows.append(row)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                done += 1
                if progress:
                    progress(done, total, f"retrieving: {mode}")
            modes[mode] = mode_metrics(mode_rows)
            rows.extend(mode_rows)
    data_json = report_data(engine, data, modes, rows, ingested)
    json_path, report_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(data_json, ensure_ascii=False, indent=2) + "\n", "utf-8")
    report_path.write_text(format_report(data_json), encoding="utf-8")
    return BenchmarkReport(modes, rows, results_path, report_path, json_path, data_json)


def query_row(
    engine: Engine, mode: str, qid: str, text: str, qrels: Mapping[str, int]
) -> dict[str, Any]:
    """One results.jsonl row: the ranked ids, the query's grades and its metrics."""
    error = None
    top: list[str] = []
    deep: list[str] = []
    latency = 0.0
    started = time.perf_counter()
    try:
        head = engine.retrieve(text, CUT, mode=mode, read_filters=False)
        top, latency = [h.paper.paper_id for h in head.hits], head.latency_s
        deep = [h.paper.paper_id for h in engine.retrieve(text, DEPTH, mode=mode,
                                                          read_filters=False).hits]  # fmt: skip
    except RagError as exc:
        error, latency = str(exc), time.perf_counter() - started
    return {
        "mode": mode,
        "id": qid,
        "query": text,
        "relevant": dict(qrels),
        "top10": top,
        "top100": deep,
        "ndcg10": ndcg_at(top, qrels, CUT),
        "recall10": recall_at(top, qrels, CUT),
        "recall100": recall_at(deep, qrels, DEPTH),
        "mrr10": reciprocal_rank_at(top, qrels, CUT),
        "latency_s": round(latency, 4),
        "error": error,
    }


def mode_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Means of the per-query metrics, the warm p50 latency and the failures of one mode.

    >>> m = mode_metrics([{"ndcg10": 1.0, "recall10": 1.0, "recall100": 1.0, "mrr10": 1.0,
    ...     "latency_s": 0.02, "top100": ["a"], "error": None}, {"ndcg10": 0.0, "recall10": 0.0,
    ...     "recall100": 0.5, "mrr10": 0.0, "latency_s": 9.0, "top100": [], "error": "boom"}])
    >>> m["ndcg10"], m["recall100"], m["latency_p50_ms"], m["failed"]
    (0.5, 0.75, 20.0, 1)
    """
    out: dict[str, float] = {name: mean(r[name] for r in rows) or 0.0 for name in METRICS}
    answered = [r for r in rows if not r["error"]]
    p50 = percentile([r["latency_s"] for r in answered], 50)
    if p50 is not None:
        out["latency_p50_ms"] = p50 * 1000.0
    out["mean_retrieved100"] = mean(len(r["top100"]) for r in answered) or 0.0
    out["failed"] = len(rows) - len(answered)
    return out


def report_data(
    engine: Engine,
    data: BeirDataset,
    modes: Mapping[str, Mapping[str, float]],
    rows: Sequence[Mapping[str, Any]],
    ingested: Ingested | None,
) -> dict[str, Any]:
    """What report.json holds."""
    config = engine.config
    notes = []
    if data.unjudged:
        notes.append(
            f"{data.unjudged} judged quer{'y' if data.unjudged == 1 else 'ies'} of split "
            f"{data.split!r} left out: no document graded above 0"
        )
    if ingested and ingested.rebuilt:
        notes.append(f"the store was rebuilt: {ingested.rebuilt}")
    report = ingested.report if ingested else None
    return {
        "created": datetime.now().isoformat(timespec="seconds"),
        "benchmark": data.name,
        "dataset": str(data.root),
        "split": data.split,
        "queries": len(data.queries),
        "documents": len(data.corpus),
        "store": engine.store.location,
        "embed_model": engine.embedder.name,
        "settings": engine.settings_fingerprint,
        "reranker": f"cross-encoder {config.cross_encoder}"
        if config.cross_encoder
        else "built-in (Reranker.rerank)",  # fmt: skip
        "ingest": None
        if report is None
        else {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "removed": report.removed,
            "embedded_texts": report.embedded_texts,
            "seconds": round(report.seconds, 1),
        },
        "metric_labels": LABELS,
        "modes": rounded({m: dict(v) for m, v in modes.items()}),
        "failed": [
            {"mode": r["mode"], "id": r["id"], "reason": r["error"]} for r in rows if r["error"]
        ],
        "notes": notes,
    }


def _table(data: Mapping[str, Any]) -> str:
    header = ["retriever", *(LABELS[m] for m in (*METRICS, "latency_p50_ms", "failed"))]
    rows = []
    for mode, m in data["modes"].items():
        cells = [fmt(m.get(name), 3) for name in METRICS]
        rows.append([mode, *cells, fmt(m.get("latency_p50_ms"), 0), int(m.get("failed", 0))])
    return markdown_table(header, rows)


def format_report(data: Mapping[str, Any]) -> str:
    """report.md from the report.json data."""
    ingest = data.get("ingest")
    ingest_line = (
        f"{ingest['added']} added, {ingest['updated']} updated, {ingest['unchanged']} "
        f"unchanged, {ingest['removed']} removed in {ingest['seconds']} s "
        f"({ingest['embedded_texts']} texts embedded)"
        if ingest
        else "not run"
    )
    failed = data.get("failed", [])
    lines = [
        f"# Retrieval benchmark: {data['benchmark']} ({data['split']}), "
        f"{data['created'][:16].replace('T', ' ')}",
        "",
        f"- Dataset: `{data['dataset']}`, split `{data['split']}`: {data['queries']} queries, "
        f"{data['documents']} documents",
        f"- Store: `{data['store']}` ({data['settings']}); rerank: {data['reranker']}",
        f"- Ingest: {ingest_line}",
        "",
        "## Retrieval by mode",
        "",
        _table(data),
        "",
        f"## Failed queries ({len(failed)})",
        "",
        markdown_table(["mode", "id", "error"], [[f["mode"], f["id"], f["reason"]] for f in failed])
        if failed
        else "None.",
        "",
    ]
    if data.get("notes"):
        lines += ["## Notes", "", *(f"- {n}" for n in data["notes"]), ""]
    lines += ["## Definitions", "", DEFINITIONS, ""]
    return "\n".join(lines)


def format_summary(data: Mapping[str, Any]) -> str:
    """A few lines for the CLI: one per mode.

    >>> print(format_summary({"benchmark": "tiny", "split": "test", "queries": 2,
    ...     "documents": 9, "embed_model": "m", "modes": {"bm25": {"ndcg10": 0.5,
    ...     "recall10": 1.0, "recall100": 1.0, "mrr10": 0.5, "latency_p50_ms": 3.2, "failed": 0}}}))
    tiny (test): 2 queries, 9 documents, embedder m
    retriever      nDCG@10  recall@10  recall@100  MRR@10  p50 ms
    bm25             0.500      1.000       1.000   0.500       3
    """
    lines = [
        f"{data['benchmark']} ({data['split']}): {data['queries']} queries, "
        f"{data['documents']} documents, embedder {data['embed_model']}",
        f"{'retriever':<13} {'nDCG@10':>8} {'recall@10':>10} {'recall@100':>11} "
        f"{'MRR@10':>7} {'p50 ms':>7}",
    ]
    for mode, m in data["modes"].items():
        failed = f"  ({int(m['failed'])} failed)" if m.get("failed") else ""
        lines.append(
            f"{mode:<13} {fmt(m.get('ndcg10'), 3):>8} {fmt(m.get('recall10'), 3):>10} "
            f"{fmt(m.get('recall100'), 3):>11} {fmt(m.get('mrr10'), 3):>7} "
            f"{fmt(m.get('latency_p50_ms'), 0):>7}{failed}"
        )
    return "\n".join(lines)


def saved_reports(folder: Path) -> list[dict[str, Any]]:
    """The benchmark reports (report.json) in `folder`'s subfolders, where `rag
    bench-retrieval` writes them (RAG_EVAL_OUT/beir-NAME-SPLIT), newest first. A file that is not a
    benchmark report, or cannot be read, is left out."""
    found = []
    for path in sorted(Path(folder).glob("*/report.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("benchmark") and isinstance(data.get("modes"), dict):
            found.append({**data, "path": str(path)})
    return sorted(found, key=lambda d: str(d.get("created", "")), reverse=True)
