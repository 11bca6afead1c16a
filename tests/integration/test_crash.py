"""`rag ingest` killed with SIGKILL at many points: the library is never lost.

After every kill the store must open; every paper must be either wholly present (its
chunks with their text and metadata, its sentences row, its content hash, its chunks
in the keyword index and in the vector index) or absent; a manifest entry may only
claim a file whose papers are all stored; and the next `rag ingest` must complete the
library with nothing duplicated.

Three runs: a new library (20 kill points), an update that rewrites every stored paper
(6), and Store.add past Chroma's 1,000-vector HNSW flush (3). Kill points are spread
over the whole run: a kill waits until the progress bar shows a given number of papers
stored, then a fraction of one batch's duration more, so kills land in every batch
(while parsing, embedding and writing) whatever the load of the machine. Each run is a
fresh `rag ingest` forked from a server process that has already imported torch,
chromadb and the rest (about 15 s here), with batches of 8 papers so that a 60-paper
file takes 8 write rounds.

    RAG_KILL_POINTS=200 RAG_CRASH_PAPERS=600 RAG_CRASH_FRESH=1 pytest tests/integration/test_crash.py
    (bench/crash_run.py: fresh `python -m rag.cli` processes, ingest's own batch size)
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

KILL_POINTS = int(os.environ.get("RAG_KILL_POINTS", "20"))
UPDATE_POINTS = int(os.environ.get("RAG_UPDATE_KILL_POINTS", "6"))  # while rewriting papers
FLUSH_POINTS = int(os.environ.get("RAG_FLUSH_KILL_POINTS", "3"))  # around the HNSW flush
# Kills in a row on one store before a run may finish: with 3, two kills in three hit
# a resumed ingest (some papers stored, the manifest not yet written), and only every
# third run must complete the library (a third of the cost); the nightly run uses 1.
CHAIN = int(os.environ.get("RAG_CRASH_CHAIN", "3"))
N_PAPERS = int(os.environ.get("RAG_CRASH_PAPERS", "60"))
# Batch size of the runs: 8 gives a 60-paper file 8 write rounds to be killed in;
# 0 keeps ingest's own BATCH_PAPERS (the nightly run with fresh processes does).
BATCH = int(os.environ.get("RAG_CRASH_BATCH", "8"))
FRESH = os.environ.get("RAG_CRASH_FRESH") == "1"  # fresh processes instead of forks
REPORT = os.environ.get("RAG_CRASH_REPORT")
RUN_TIMEOUT = 900  # seconds: a run that takes longer has hung
POLL = 0.02
HERE = Path(__file__).resolve()
_PROGRESS = re.compile(r"papers:\s*\d+%\|[^|]*\|\s*(\d+)/\d+")  # the CLI's tqdm bar

WORDS = (
    "robust training adversarial network transformer attention diffusion sparse rate "
    "reduction gradient descent convergence benchmark dataset language vision policy "
    "reward certified bound interval propagation pruning quantization retrieval"
).split()


# ------------------------------------------------------------------ the library


def write_library(path: Path, n: int, seed: int = 7) -> None:
    """n papers as JSON lines; every 15th has a long abstract that makes two chunks."""
    rng = random.Random(seed)

    def sentence(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."

    with path.open("w") as f:
        for i in range(n):
            sentences = 36 if i % 15 == 0 else 2
            record = {
                "title": f"Study {i} of " + " ".join(rng.choice(WORDS) for _ in range(4)),
                "abstract": " ".join(sentence(rng.randint(6, 10)) for _ in range(sentences)),
                "authors": [f"Author{i % 7} Lee", "Bea Kim"],
                "year": 2000 + i % 25,
            }
            if i % 5 == 0:
                record["doi"] = f"10.1000/crash.{i}"
            f.write(json.dumps(record) + "\n")


@dataclass(frozen=True)
class Expected:
    paper: object  # rag.types.Paper
    content_hash: str
    chunks: dict[str, str]  # chunk id -> text
    sentences: list[str]


def expected_library(path: Path, config, settings: str) -> dict[str, Expected]:
    from rag.ingest import prepare
    from rag.sources import ParseReport, parse_file
    from rag.sources.merge import merge_papers

    papers = merge_papers(parse_file(path, ParseReport()))
    out = {}
    for paper in papers:
        item = prepare(paper, settings, config.chunk_size, config.chunk_overlap)
        out[paper.paper_id] = Expected(
            paper,
            item.content_hash,
            {c.chunk_id: c.text for c in item.chunks},
            list(item.sentences),
        )
    return out


# ---------------------------------------------------------------- the runs


class ForkServer:
    """A process that imported the CLI's dependencies once and forks one `rag` per run."""

    def __init__(self, batch: int) -> None:
        env = {**os.environ, "RAG_CRASH_BATCH": str(batch)}
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self._read() == {"ready": True}

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"fork server exited with code {self.proc.wait()}"
        return json.loads(line)

    def _send(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def start(self, args: list[str], out: Path) -> int:
        return self._send(op="run", args=args, out=str(out))["pid"]

    def kill(self, pid: int) -> None:
        self._send(op="kill", pid=pid)  # the parent knows whether the pid is still its child

    def wait(self, pid: int) -> int:
        return self._send(op="wait", pid=pid)["status"]

    def poll(self, pid: int) -> int | None:
        return self._send(op="poll", pid=pid)["status"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class FreshProcesses:
    """One fresh `python -m rag.cli` per run, as a user runs it (slow: imports each time)."""

    def __init__(self) -> None:
        self.procs: dict[int, subprocess.Popen] = {}

    def start(self, args: list[str], out: Path) -> int:
        command = [str(HERE), *args] if args[0] == "fill" else ["-m", "rag.cli", *args]
        with out.open("wb") as handle:
            proc = subprocess.Popen(
                [sys.executable, *command], stdout=handle, stderr=subprocess.STDOUT
            )
        self.procs[proc.pid] = proc
        return proc.pid

    def kill(self, pid: int) -> None:
        self.procs[pid].kill()

    def wait(self, pid: int) -> int:
        return self.procs.pop(pid).wait(timeout=RUN_TIMEOUT)

    def poll(self, pid: int) -> int | None:
        return self.procs[pid].poll()

    def close(self) -> None:
        pass


def papers_done(out: Path) -> int:
    """Papers stored so far, from the last count the progress bar printed."""
    try:
        counts = _PROGRESS.findall(out.read_text(errors="replace"))
    except FileNotFoundError:
        return 0
    return int(counts[-1]) if counts else 0


@dataclass
class Timeline:
    seconds: float  # the whole run
    batch_seconds: float  # one batch (parse, embed, write), from the progress bar


def timed_run(runner, args: list[str], out: Path) -> tuple[int, Timeline]:
    """An uninterrupted run, polled to learn how long a batch takes."""
    started = time.monotonic()
    pid = runner.start(args, out)
    seen: dict[int, float] = {}
    while runner.poll(pid) is None:
        seen.setdefault(papers_done(out), time.monotonic() - started)
        assert time.monotonic() - started < RUN_TIMEOUT, "ingest did not finish"
        time.sleep(POLL)
    status = runner.wait(pid)
    total = time.monotonic() - started
    marks = sorted(t for n, t in seen.items() if n > 0)
    batch = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else total / 4
    return status, Timeline(total, max(batch, POLL))


def kill_schedule(points: int, batches: int) -> list[tuple[int, float]]:
    """(papers stored before the kill, fraction of a batch to wait after that), spread
    over every batch boundary and every part of a batch."""
    rounds = math.ceil(points / (batches + 1))
    return [(i % (batches + 1), ((i // (batches + 1)) + 0.5) / rounds) for i in range(points)]


# ---------------------------------------------------------------- the checks


def check_store(store_path: Path, library: Path | None, new: dict[str, Expected], embedder,
                complete: bool, old: dict[str, Expected] | None = None) -> dict:  # fmt: skip
    """Every invariant of a store after a kill (complete=False) or a finished run.

    `new` is the library the file holds now; `old` what an earlier ingest stored (an
    update). A paper showing the new content hash must be wholly new: that hash is the
    commit mark. A paper still showing the old hash may be part-way through its rewrite
    (the next ingest redoes it: the hash says so), but holds only what the old version
    had, plus the new sentences.
    """
    from rag.config import Config
    from rag.engine import Engine
    from rag.ingest import file_sha256

    old = old or {}
    _forget_clients()  # another process wrote the store since the last check
    engine = Engine(Config.from_env({}, store=store_path), embedder=embedder)
    store = engine.store
    stored = store.papers()
    catalog = engine.snapshot.catalog  # builds the keyword index and checks the vectors
    assert set(catalog) == set(stored)
    assert set(stored) <= set(new) | set(old), f"unknown papers: {set(stored) - set(new)}"

    chunks: dict[str, dict[str, str]] = {}
    for chunk in store.chunks():
        assert chunk.chunk_id not in chunks.get(chunk.paper_id, {}), "duplicate chunk"
        chunks.setdefault(chunk.paper_id, {})[chunk.chunk_id] = chunk.text
    assert set(chunks) == set(stored), "chunks of a paper without its first chunk"
    sentences = store.sentences(sorted(set(new) | set(old)))
    rewriting = 0
    for pid, (paper, content_hash) in stored.items():
        assert pid in sentences, f"{pid}: stored without its sentences"
        texts, vectors = sentences[pid]
        assert vectors.shape == (len(texts), embedder.dim)
        want = new.get(pid)
        if want is not None and content_hash == want.content_hash:
            assert paper == want.paper, f"{pid}: metadata differs"
            assert chunks[pid] == want.chunks, f"{pid}: chunks {sorted(chunks[pid])}"
            assert texts == want.sentences, f"{pid}: sentences differ"
            continue
        was = old.get(pid)
        assert was is not None and content_hash == was.content_hash, f"{pid}: unknown hash"
        assert paper == was.paper, f"{pid}: old hash with other metadata"
        assert chunks[pid].items() <= was.chunks.items(), f"{pid}: old hash, new chunks"
        assert texts in (was.sentences, want.sentences if want else None), f"{pid}: sentences"
        rewriting += chunks[pid] != was.chunks or texts != was.sentences
    all_chunks = {cid for per in chunks.values() for cid in per}
    assert store.count_chunks() == len(all_chunks)

    retriever = engine.snapshot.retriever
    if all_chunks:
        assert sorted(retriever.keyword.chunk_ids) == sorted(all_chunks), "keyword index"
        query = np.asarray(embedder.embed_one("adversarial training"), dtype=np.float32)
        dense = {hit.chunk_id for hit in store.query(query, len(all_chunks))}
        if dense != all_chunks:  # once more on a fresh load (Store.check_index says why)
            store.reopen()
            dense = {hit.chunk_id for hit in store.query(query, len(all_chunks))}
        assert dense == all_chunks, "vector index and stored chunks differ"
        hits = engine.retrieve("robust training of networks").hits
        assert hits and all(h.paper.paper_id in stored for h in hits)
    else:
        assert retriever is None

    fresh = {pid for pid, (_, h) in stored.items() if pid in new and h == new[pid].content_hash}
    if library is not None:  # None: written by Store.add directly, no manifest
        digest = file_sha256(library)
        entry = store.files().get(str(library.resolve()))
        if entry is not None and entry.sha256 == digest:
            assert set(entry.paper_ids) == set(new) == fresh, "the manifest claims too much"
        if complete:
            assert entry is not None and entry.sha256 == digest
    if complete:
        assert set(stored) == fresh == set(new)
        assert store.count_chunks() == sum(len(e.chunks) for e in new.values())
    orphans = set(sentences) - set(stored)  # a sentences row written just before the kill
    _forget_clients()
    return {"papers": len(fresh), "orphan_sentence_rows": len(orphans), "rewriting": rewriting}


def _forget_clients() -> None:
    """Chroma caches one client per path in a process; drop it to read the disk afresh."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def runner():
    server = FreshProcesses() if FRESH else ForkServer(BATCH)
    yield server
    server.close()


def settings_of(embedder) -> tuple:
    from rag.config import Config
    from rag.engine import Engine

    engine = Engine(Config.from_env({}, store=Path("unused")), embedder=embedder)
    return engine.config, engine.settings_fingerprint


def kill_and_recover(runner, work: Path, library: Path, new: dict[str, Expected], embedder,
                     points: int, template: Path | None = None,
                     old: dict[str, Expected] | None = None) -> tuple[list[dict], Timeline]:  # fmt: skip
    """Kill `rag ingest` at `points` points (CHAIN in a row per store), checking the store
    after each kill and after the run that finally completes it."""
    from rag.ingest import BATCH_PAPERS

    work.mkdir(exist_ok=True)

    def fresh_store(name: str) -> Path:
        store = work / name
        if template is not None:
            shutil.copytree(template, store)
        return store

    def args(store: Path) -> list[str]:
        return ["ingest", str(library), "--store", str(store)]

    baseline = fresh_store("baseline")
    status, timeline = timed_run(runner, args(baseline), work / "base.out")
    assert status == 0, (work / "base.out").read_text()[-2000:]
    check_store(baseline, library, new, embedder, complete=True, old=old)

    batch = BATCH or BATCH_PAPERS
    schedule = kill_schedule(points, math.ceil(len(new) / batch))
    outcomes = []
    for chain in range(math.ceil(len(schedule) / CHAIN)):
        store = fresh_store(f"store{chain}")
        for i in range(chain * CHAIN, min(len(schedule), (chain + 1) * CHAIN)):
            batches_done, fraction = schedule[i]
            out = work / f"kill{i}.out"
            pid = runner.start(args(store), out)
            started = time.monotonic()
            while papers_done(out) < batches_done * batch and runner.poll(pid) is None:
                assert time.monotonic() - started < RUN_TIMEOUT
                time.sleep(POLL)
            time.sleep(fraction * timeline.batch_seconds)
            runner.kill(pid)
            killed = runner.wait(pid) == -signal.SIGKILL
            state = check_store(store, library, new, embedder, complete=not killed, old=old)
            outcomes.append({"killed": killed, **state})
        again = work / f"again{chain}.out"
        status = runner.wait(runner.start(args(store), again))
        assert status == 0, again.read_text()[-2000:]
        final = check_store(store, library, new, embedder, complete=True, old=old)
        assert final["orphan_sentence_rows"] == 0
    return outcomes, timeline


def test_ingest_survives_sigkill_at_many_points(runner, tmp_path, embedder):
    library = tmp_path / "library.jsonl"
    write_library(library, N_PAPERS)
    expected = expected_library(library, *settings_of(embedder))
    assert len(expected) == N_PAPERS
    outcomes, timeline = kill_and_recover(
        runner, tmp_path, library, expected, embedder, KILL_POINTS
    )
    _report("new_library", outcomes, timeline)
    assert len(outcomes) == KILL_POINTS


def test_update_survives_sigkill(runner, tmp_path, embedder):
    """Killed while rewriting changed papers: long abstracts cut to one chunk (leftover
    chunks deleted), changed sentences (re-embedded), changed years and author order
    (metadata only)."""
    library = tmp_path / "library.jsonl"
    write_library(library, N_PAPERS)
    old = expected_library(library, *settings_of(embedder))
    template = tmp_path / "v1"
    assert runner.wait(runner.start(["ingest", str(library), "--store", str(template)],
                                    tmp_path / "v1.out")) == 0  # fmt: skip
    check_store(template, library, old, embedder, complete=True)
    records = [json.loads(line) for line in library.read_text().splitlines()]
    for i, record in enumerate(records):
        if i % 3 == 0:
            record["abstract"] = " ".join(record["abstract"].split(". ")[:2]) + " Revised."
        elif i % 3 == 1:
            record["year"] += 1
        else:
            record["authors"] = record["authors"][::-1]
    library.write_text("".join(json.dumps(r) + "\n" for r in records))
    new = expected_library(library, *settings_of(embedder))
    assert {pid for pid in new if new[pid].content_hash != old[pid].content_hash} == set(old)
    assert any(len(new[pid].chunks) < len(old[pid].chunks) for pid in new)
    outcomes, timeline = kill_and_recover(
        runner, tmp_path / "update", library, new, embedder, UPDATE_POINTS, template, old
    )
    _report("update", outcomes, timeline)
    assert len(outcomes) == UPDATE_POINTS


FLUSH_ROWS = 1200  # past Chroma's sync_threshold (1,000): the HNSW files get written
FLUSH_BATCH = 50
FLUSH_SETTINGS = "crash-test flush"


def flush_papers(n: int = FLUSH_ROWS) -> list:
    """One-chunk papers for the index-flush test (the vectors are random: no model)."""
    from rag.ingest import prepare
    from rag.types import Paper

    return [
        prepare(
            Paper.create(f"Flush paper {i} on topic {i % 17}", f"Abstract {i}. It is short."),
            FLUSH_SETTINGS,
            320,
            48,
        )  # fmt: skip
        for i in range(n)
    ]


def fill_store(path: Path, seed: int) -> None:
    """Store.add the flush papers the store lacks, FLUSH_BATCH at a time, printing progress
    the way the CLI's bar does."""
    from rag.embedding import DEFAULT_MODEL_NAME
    from rag.store import Store

    store = Store(path, DEFAULT_MODEL_NAME, 384)
    have = set(store.papers())
    items = flush_papers()
    rng = np.random.default_rng(seed)
    for start in range(0, len(items), FLUSH_BATCH):
        batch = [
            item for item in items[start : start + FLUSH_BATCH] if item.paper.paper_id not in have
        ]
        if batch:
            n_sentences = sum(len(item.sentences) for item in batch)
            vectors = rng.standard_normal((len(batch) + n_sentences, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.add(batch, vectors[: len(batch)], vectors[len(batch) :])
        print(f"papers: 0%|| {start + FLUSH_BATCH}/{len(items)}", flush=True)


def test_vector_index_flush_survives_sigkill(runner, tmp_path, embedder):
    """Killed around the 1,000th vector, when Chroma writes its HNSW files in place."""
    expected = {
        item.paper.paper_id: Expected(
            item.paper, item.content_hash, {c.chunk_id: c.text for c in item.chunks},
            list(item.sentences),
        )
        for item in flush_papers()
    }  # fmt: skip
    status, timeline = timed_run(runner, ["fill", str(tmp_path / "base"), "0"], tmp_path / "b.out")
    assert status == 0, (tmp_path / "b.out").read_text()[-2000:]
    check_store(tmp_path / "base", None, expected, embedder, complete=True)
    outcomes = []
    for i in range(FLUSH_POINTS):
        store, out = tmp_path / f"flush{i}", tmp_path / f"flush{i}.out"
        threshold = 850 + (300 * i) // max(FLUSH_POINTS - 1, 1)  # 850 .. 1,150 rows
        pid = runner.start(["fill", str(store), str(i + 1)], out)
        while papers_done(out) < threshold and runner.poll(pid) is None:
            time.sleep(POLL)
        time.sleep((i % 3) / 3 * timeline.batch_seconds)
        runner.kill(pid)
        killed = runner.wait(pid) == -signal.SIGKILL
        state = check_store(store, None, expected, embedder, complete=not killed)
        outcomes.append({"killed": killed, **state})
        assert runner.wait(runner.start(["fill", str(store), str(i + 100)], out)) == 0
        check_store(store, None, expected, embedder, complete=True)
    _report("index_flush", outcomes, timeline, FLUSH_ROWS, FLUSH_BATCH, chain=1)
    assert len(outcomes) == FLUSH_POINTS


def _report(name: str, outcomes: list[dict], timeline: Timeline, papers: int = N_PAPERS,
            batch: int | str = BATCH or "default", chain: int = CHAIN) -> None:  # fmt: skip
    at_kill = Counter(
        "finished before the kill" if not o["killed"]
        else "killed, no paper (new version) stored" if o["papers"] == 0
        else "killed, all papers stored" if o["papers"] == papers
        else "killed, library partial"
        for o in outcomes
    )  # fmt: skip
    figures = {
        "kill_points": len(outcomes),
        "survived": len(outcomes),  # every point passed every check above
        "papers": papers,
        "batch": batch,
        "fresh_processes": FRESH,
        "kills_per_completing_run": chain,
        "run_seconds": round(timeline.seconds, 1),
        "outcomes": dict(at_kill),
        "papers_at_kill": sorted(o["papers"] for o in outcomes),
        "orphan_sentence_rows_after_kill": sum(o["orphan_sentence_rows"] for o in outcomes),
        "papers_mid_rewrite_after_kill": sum(o["rewriting"] for o in outcomes),
    }
    print(json.dumps({name: figures}))
    FIGURES[name] = figures
    if REPORT:
        Path(REPORT).write_text(json.dumps(FIGURES, indent=2) + "\n")


FIGURES: dict[str, dict] = {}


# ------------------------------------------------------------ the fork server


def serve() -> None:
    """Import everything `rag ingest` needs, then fork one CLI run per request.

    Nothing runs a model or opens a store before forking, so no thread pool or
    database handle is shared with the children.
    """
    import chromadb  # noqa: F401
    import llama_index.core  # noqa: F401
    import llama_index.vector_stores.chroma  # noqa: F401
    import sentence_transformers  # noqa: F401
    import tqdm  # noqa: F401

    import rag.cli
    import rag.engine
    import rag.ingest
    import rag.keyword  # noqa: F401
    import rag.retrieval  # noqa: F401
    from rag.sources import formats

    formats()
    batch = int(os.environ.get("RAG_CRASH_BATCH", "0"))
    if batch:
        rag.ingest.BATCH_PAPERS = batch
    finished: dict[int, int] = {}  # pid -> exit status, reaped by a poll
    reply = sys.stdout
    reply.write(json.dumps({"ready": True}) + "\n")
    reply.flush()
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "run":
            pid = os.fork()
            if pid == 0:
                _child(command)
            answer = {"pid": pid}
        elif command["op"] == "kill":
            if command["pid"] not in finished:  # not yet reaped: the pid is still ours
                os.kill(command["pid"], signal.SIGKILL)
            answer = {}
        elif command["pid"] in finished:  # reaped by an earlier poll
            answer = {"status": finished.pop(command["pid"]) if command["op"] == "wait"
                      else finished[command["pid"]]}  # fmt: skip
        else:
            flags = 0 if command["op"] == "wait" else os.WNOHANG
            done, status = os.waitpid(command["pid"], flags)
            answer = {"status": os.waitstatus_to_exitcode(status) if done else None}
            if done and command["op"] == "poll":
                finished[command["pid"]] = answer["status"]
        reply.write(json.dumps(answer) + "\n")
        reply.flush()


def _child(command: dict) -> None:
    import rag.cli

    fd = os.open(command["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    code = 70
    try:
        if command["args"][0] == "fill":
            fill_store(Path(command["args"][1]), int(command["args"][2]))
        else:
            rag.cli.main(command["args"], prog_name="rag")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve()
elif __name__ == "__main__" and sys.argv[1:2] == ["fill"]:
    fill_store(Path(sys.argv[2]), int(sys.argv[3]))
