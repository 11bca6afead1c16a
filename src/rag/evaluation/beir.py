"""A retrieval benchmark in BEIR's format, read and checked before anything is stored.

    DIR/corpus.jsonl        {"_id", "title", "text", ...} per line: the documents
    DIR/queries.jsonl       {"_id", "text", ...} per line: every split's queries
    DIR/qrels/<split>.tsv   query-id <TAB> corpus-id <TAB> score, after a header row

    data = load_beir(Path("tests/fixtures/beir_tiny"), "test")
    data.corpus[0].paper_id, data.queries["q1"], data.qrels["q1"]   # "d01", "...", {"d01": 2}

(Thakur et al., "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of
Information Retrieval Models", NeurIPS 2021 datasets track.) Documents become Papers
that keep their `_id` as paper id: a benchmark's documents share titles and have no
authors or years, and its judgements name its ids. Every problem is one line naming
the file (and line) and what to do: a missing file, a line that is not JSON, a
duplicate id, an unknown split, judgements naming ids the corpus or queries lack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, ParseError
from ..types import Paper

LAYOUT = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"


@dataclass(frozen=True)
class BeirDataset:
    root: Path
    split: str
    corpus: list[Paper]  # in file order; paper_id is the document's _id
    queries: dict[str, str]  # query id -> text: the split's queries with a relevant document
    qrels: dict[str, dict[str, int]]  # query id -> document id -> grade, for those queries
    unjudged: int  # the split's queries left out: no document judged relevant (grade > 0)

    @property
    def name(self) -> str:
        return self.root.resolve().name


def load_beir(root: Path, split: str = "test", limit: int | None = None) -> BeirDataset:
    """Read and check a BEIR folder; `limit`: only the first N evaluated queries (in
    queries.jsonl order). InputError or ParseError, one line, for any problem."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; {LAYOUT}")
    corpus = read_corpus(_required(root / "corpus.jsonl"))
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        known = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        choose = f"pass --split with one of: {', '.join(known)}" if known else LAYOUT
        raise InputError(f"{qrels_path}: no such split {split!r}; {choose}")
    texts = read_queries(_required(root / "queries.jsonl"))
    qrels = read_qrels(qrels_path, set(texts), {p.paper_id for p in corpus})
    judged = [qid for qid in texts if qid in qrels]  # queries.jsonl order
    evaluated = [qid for qid in judged if any(g > 0 for g in qrels[qid].values())]
    if not evaluated:
        raise InputError(f"{qrels_path}: no query has a document graded above 0: nothing to score")
    chosen = evaluated[:limit] if limit else evaluated
    return BeirDataset(
        root=root,
        split=split,
        corpus=corpus,
        queries={qid: texts[qid] for qid in chosen},
        qrels={qid: qrels[qid] for qid in chosen},
        unjudged=len(judged) - len(evaluated),
    )


def _required(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: missing; {LAYOUT}")
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line."""
    try:
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, start=1):
                if line.strip():
                    yield n, line
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; {LAYOUT}") from None


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; ParseError for one that is not
    a JSON object."""
    for n, line in _lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(
                str(path), n, f"not JSON ({exc.msg}): fix or remove the line"
            ) from None
        if not isinstance(row, dict):
            raise ParseError(str(path), n, "not a JSON object: fix or remove the line")
        yield n, row


def _field(path: Path, n: int, row: dict[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise ParseError(str(path), n, f'no "{key}" string: every line needs one')
    return str(value)


def read_corpus(path: Path) -> list[Paper]:
    """The documents as Papers with their own ids (never merged by title)."""
    papers: list[Paper] = []
    first: dict[str, int] = {}
    for n, row in _json_lines(path):
        doc_id = _field(path, n, row, "_id")
        if doc_id in first:
            raise ParseError(
                str(path), n, f"_id {doc_id!r} is also on line {first[doc_id]}: ids must be unique"
            )
        first[doc_id] = n
        title = _field(path, n, row, "title", required=False)
        text = _field(path, n, row, "text", required=False)
        papers.append(Paper.create(title, text, paper_id=doc_id, sources=(path.name,)))
    if not papers:
        raise InputError(f"{path}: no documents; {LAYOUT}")
    return papers


def read_queries(path: Path) -> dict[str, str]:
    """Query id -> text, in file order."""
    queries: dict[str, str] = {}
    for n, row in _json_lines(path):
        qid = _field(path, n, row, "_id")
        if qid in queries:
            raise ParseError(str(path), n, f"_id {qid!r} appears twice: ids must be unique")
        queries[qid] = _field(path, n, row, "text")
    return queries


def read_qrels(path: Path, query_ids: set[str], doc_ids: set[str]) -> dict[str, dict[str, int]]:
    """Query id -> document id -> grade; every id must be in the queries and corpus."""
    qrels: dict[str, dict[str, int]] = {}
    for i, (n, line) in enumerate(_lines(path)):
        fields = line.rstrip("\r\n").split("\t")
        if i == 0 and len(fields) == 3 and not _is_int(fields[2]):
            continue  # the header row: query-id, corpus-id, score
        if len(fields) != 3 or not _is_int(fields[2]):
            raise ParseError(str(path), n, "expected query-id<TAB>corpus-id<TAB>integer score")
        qid, doc_id, score = fields[0].strip(), fields[1].strip(), int(fields[2])
        if qid not in query_ids:
            raise ParseError(
                str(path), n, f"query id {qid!r} is not in queries.jsonl: use the "
                "queries file these judgements were written for",
            )  # fmt: skip
        if doc_id not in doc_ids:
            raise ParseError(
                str(path), n, f"corpus id {doc_id!r} is not in corpus.jsonl: use the "
                "corpus these judgements were written for",
            )  # fmt: skip
        qrels.setdefault(qid, {})[doc_id] = score
    if not qrels:
        raise InputError(f"{path}: no judgements; {LAYOUT}")
    return qrels


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
