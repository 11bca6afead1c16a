"""Benchmark: ingest throughput, embedding overhead, query latency, store size and peak
memory for libraries of 1k / 10k / 100k realistic abstracts, embedded store and Chroma server.

    .venv/bin/python bench/bench.py --sizes 1000                          # real embeddings
    .venv/bin/python bench/bench.py --sizes 10000,100000 --random-vectors  # store scaling
    .venv/bin/python bench/bench.py --cold-only                            # one-off rag ask

Libraries are arXiv-metadata JSON lines (the streamed parser a large import would use)
whose abstracts recombine sentences of the bundled abstracts in data/, with generated
titles, authors, years and arXiv ids. Each phase runs in its own process, so its peak
memory (VmHWM) is its own: ingest (`Engine.ingest`, what `rag ingest` runs: the papers
into the store, then the library index), then opening the library (catalog, keyword index)
and timing `engine.retrieve(q, mode=...)` for dense, hybrid and hybrid+rerank over the
eval questions. Rows accumulate in eval/out/bench.json (one per size, vectors and
store); docs/bench.md and docs/bench.png are rewritten from all rows after each run.

--random-vectors gives chunks and sentences random unit vectors (drawn per batch from a
seeded generator) instead of the model's, so store scaling can be measured without hours
of embedding. The model is still loaded and run on one batch, so ingest memory includes
it, and questions are still embedded by it, so query latency is real; what random
vectors retrieve is meaningless. The ingest/encode ratio needs real vectors: it is
measured at sizes run without the flag, as the median of --repeats alternating runs.
The machine may be shared: medians are quoted and the load average is recorded.

Every run starts with the cold-start timing: `rag ask` (extractive, bundled library),
`rag --help`, a bare `python -c pass` and the old import floor (torch,
sentence-transformers, chromadb and llama_index.core imported), each a fresh process, in
--cold-rounds alternating rounds; the ratios are medians of per-round ratios.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "eval" / "out" / "bench"
RESULTS = ROOT / "eval" / "out" / "bench.json"
DOCS = ROOT / "docs"
MODES = ("dense", "hybrid", "hybrid+rerank")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(ROOT / "src"))


# ------------------------------------------------------------------ the library
def make_library(size: int, seed: int = 0) -> Path:
    """`size` unique papers as arXiv JSON lines, made from the bundled abstracts."""
    path = OUT / f"library_{size}.jsonl"
    if path.exists():
        return path
    from rag.sentences import split_sentences
    from rag.sources import ParseReport, parse_file
    from rag.sources.merge import merge_papers

    real = merge_papers(
        p for f in sorted((ROOT / "data").iterdir()) for p in parse_file(f, ParseReport())
    )
    sentences = [s for p in real for s in split_sentences(p.abstract) if len(s) > 40]
    words = [p.title.split() for p in real if len(p.title.split()) >= 4]
    authors = sorted({a for p in real for a in p.authors})
    rng = random.Random(seed)
    titles: set[str] = set()
    OUT.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for i in range(size):
            title = ""
            while not title or title.lower() in titles:
                a, b = rng.sample(words, 2)
                title = " ".join(
                    a[: len(a) // 2] + b[len(b) // 2 :] + ([str(i)] if rng.random() < 0.1 else [])
                )
            titles.add(title.lower())
            year = rng.randint(2015, 2025)
            names = rng.sample(authors, rng.randint(2, 6))
            record = {
                "id": f"{2001 + i // 90000}.{10000 + i % 90000}",
                "title": title,
                "abstract": " ".join(rng.sample(sentences, rng.randint(4, 9))),
                "authors": ", ".join(names),
                "authors_parsed": [[n.split()[-1], " ".join(n.split()[:-1]), ""] for n in names],
                "categories": rng.choice(["cs.LG", "cs.CL", "cs.CV", "stat.ML", "cs.AI"]),
                "versions": [{"version": "v1", "created": f"Mon, 1 Jan {year} 00:00:00 GMT"}],
                "update_date": f"{year}-06-01",
            }
            out.write(json.dumps(record) + "\n")
    return path


# ------------------------------------------------------------------ phases (own process)
def peak_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _random_embed(dim: int):
    import numpy as np

    rng = np.random.default_rng(0)

    def embed(texts):
        v = rng.standard_normal((len(texts), dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return embed


class TimedEmbedder:
    """The engine's embedder with the time spent embedding counted, to split ingest
    time from its overhead; `vectors` replaces the model's vectors (random ones)."""

    def __init__(self, embedder, vectors=None) -> None:
        self._embedder, self._vectors = embedder, vectors or embedder.embed
        self.seconds = 0.0

    def embed(self, texts):
        started = time.perf_counter()
        try:
            return self._vectors(texts)
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name):  # name, dim, embed_one, ...: the embedder's own
        return getattr(self._embedder, name)


def phase_ingest(args) -> dict:
    from rag import ingest
    from rag.config import Config
    from rag.embedding import shared_embedder
    from rag.engine import Engine
    from rag.types import Paper

    config = Config.from_env({}, store=Path(args.store), chroma_url=args.chroma_url or None)
    embedder = shared_embedder()
    warm = ["warm up"]
    if args.file.endswith(".jsonl"):
        with open(args.file) as lines:
            warm = [json.loads(line)["abstract"] for line in itertools.islice(lines, 64)]
    # Start-up is not part of the timing, as in the encode phase: load the model and run
    # one batch, and import the chunker (LlamaIndex's import alone takes seconds).
    embedder.embed(warm)
    ingest.prepare(Paper.create("Warm up", "One sentence. Another one."), "warm", 320, 48)
    timed = TimedEmbedder(embedder, _random_embed(embedder.dim) if args.random_vectors else None)
    engine = Engine(config, embedder=timed)
    # What `rag ingest` runs: the papers into the store, then the library index.
    started = time.perf_counter()
    report = engine.ingest([Path(args.file)])
    seconds = time.perf_counter() - started
    papers = report.added + report.updated + report.unchanged
    return {"ingest_s": seconds, "ingest_embed_s": timed.seconds, "papers": papers,
            "embedded_texts": report.embedded_texts, "papers_per_s": papers / seconds,
            "ingest_peak_mb": peak_mb()}  # fmt: skip


def phase_encode(args) -> dict:
    """Raw SentenceTransformer.encode on exactly the texts ingest embeds."""
    from sentence_transformers import SentenceTransformer

    from rag import ingest
    from rag.config import Config
    from rag.embedding import default_model_path
    from rag.sources import ParseReport, parse_file
    from rag.sources.merge import merge_papers

    config = Config.from_env({})
    settings = f"model=all-MiniLM-L6-v2;chunk={config.chunk_size}/{config.chunk_overlap}"
    items = [ingest.prepare(p, settings, config.chunk_size, config.chunk_overlap)
             for p in merge_papers(parse_file(Path(args.file), ParseReport()))]  # fmt: skip
    texts = [c.text for i in items for c in i.chunks] + [s for i in items for s in i.sentences]
    model = SentenceTransformer(default_model_path(), device="cpu")
    batch = config.embed_batch_size  # the batch size ingest uses: the same work, raw
    model.encode(texts[:64], batch_size=batch)
    started = time.perf_counter()
    model.encode(texts, batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)
    return {"encode_s": time.perf_counter() - started, "texts": len(texts)}


def phase_query(args) -> dict:
    import numpy as np

    from rag.config import Config
    from rag.engine import Engine
    from rag.errors import RagError

    engine = Engine(Config.from_env({}, store=Path(args.store), chroma_url=args.chroma_url or None))
    started = time.perf_counter()
    count = engine.count()  # opens the library: catalog, author index, keyword index
    out: dict = {
        "open_s": time.perf_counter() - started,
        "library": count,
        "opened_from": engine.opened_from,  # the saved library index, or the whole store
    }
    questions = [json.loads(line)["question"] for line in open(ROOT / "eval" / "questions.jsonl")]
    questions = questions[: args.queries]
    for q in questions[:3]:
        engine.retrieve(q, mode="hybrid+rerank")  # warm caches and the model
    # Round robin over the modes per question, so a burst of load on the shared
    # machine hits every mode alike; "embed" is the question embedding alone.
    times: dict[str, list[float]] = {mode: [] for mode in (*MODES, "embed")}
    for q in questions:
        for mode in (*MODES, "embed"):
            t = time.perf_counter()
            try:
                engine.embedder.embed_one(q) if mode == "embed" else engine.retrieve(q, mode=mode)
            except RagError:  # a question whose filters match no synthetic paper
                continue
            times[mode].append((time.perf_counter() - t) * 1000)
    for mode in MODES:
        out[mode] = {
            "p50_ms": float(np.percentile(times[mode], 50)),
            "p95_ms": float(np.percentile(times[mode], 95)),
            "n": len(times[mode]),
        }
    out["question_embed_p50_ms"] = float(np.percentile(times["embed"], 50))
    out["query_peak_mb"] = peak_mb()
    return out


PHASES = {"_ingest": phase_ingest, "_encode": phase_encode, "_query": phase_query}


THREADS: list[int] = []  # --torch-threads, passed on to every phase


def run_phase(name: str, timeout: float, **kwargs) -> dict:
    cmd = [sys.executable, __file__, name] + [f"--torch-threads={n}" for n in THREADS]
    for key, value in kwargs.items():
        if value is True:
            cmd.append("--" + key.replace("_", "-"))
        elif value not in (None, False):
            cmd += ["--" + key.replace("_", "-"), str(value)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        print(f"  {name}: timed out after {timeout:.0f} s", flush=True)
        return {"timed_out": name}
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return {"failed": name}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ Chroma server
class ChromaServer:
    def __init__(self, path: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.path = path
        chroma = Path(sys.executable).parent / "chroma"
        self.proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1",
                                      "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/api/v2/heartbeat", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("chroma run did not answer its heartbeat in 120 s")

    def stop(self) -> float:
        peak = peak_mb(self.proc.pid) if self.proc.poll() is None else float("nan")
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return peak


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# ------------------------------------------------------------------ driver
def bench_size(size: int, args, old_rows: list[dict]) -> list[dict]:
    library = make_library(size)
    vectors = "random" if args.random_vectors else "real"
    rows = []
    for kind in args.stores.split(","):
        store = OUT / f"store_{size}_{vectors}_{kind}"
        if args.query_only:  # time the queries again on the store an earlier run left
            row = next((dict(r) for r in old_rows if _key(r)[:3] == (size, vectors, kind)), None)
            if row is None or not store.exists():
                print(f"  no earlier {size:,}/{vectors}/{kind} run to query again: "
                      "run without --query-only first", flush=True)  # fmt: skip
                continue
            print(f"{size:,} papers, {vectors} vectors, {kind} store: query again ...", flush=True)
            row["query_load_avg"] = os.getloadavg()[0]
        else:
            shutil.rmtree(store, ignore_errors=True)
            print(f"{size:,} papers, {vectors} vectors, {kind} store: ingest ...", flush=True)
            row = {"size": size, "vectors": vectors, "store": kind,
                   "load_avg": os.getloadavg()[0], "torch_threads": args.torch_threads}  # fmt: skip
        server = ChromaServer(store) if kind == "server" else None
        url = server.url if server else None
        if not args.query_only:
            row.update(run_phase("_ingest", args.timeout, store=store, chroma_url=url,
                                 file=library, random_vectors=args.random_vectors))  # fmt: skip
            print(f"  {row}", flush=True)
        if "ingest_s" in row:
            print("  query ...", flush=True)
            row.update(
                run_phase("_query", args.timeout, store=store, chroma_url=url, queries=args.queries)
            )
        if server:
            row["server_peak_mb"] = server.stop()
        row["store_mb"] = dir_mb(store)
        print(f"  {row}", flush=True)
        rows.append(row)
    if rows and not args.random_vectors and args.repeats and not args.query_only:
        rows[0].update(encode_ratio(library, args))
    return rows


def encode_ratio(library: Path, args) -> dict:
    ingests, encodes, inside = [], [], []
    for i in range(args.repeats):
        enc = run_phase("_encode", args.timeout, file=library)
        store = OUT / "store_ratio"
        shutil.rmtree(store, ignore_errors=True)
        ing = run_phase("_ingest", args.timeout, store=store, file=library)
        if "encode_s" in enc and "ingest_s" in ing:
            encodes.append(enc["encode_s"])
            ingests.append(ing["ingest_s"])
            inside.append(ing.get("ingest_embed_s"))
            print(
                f"  ratio run {i + 1}: ingest {ing['ingest_s']:.1f} s / encode {enc['encode_s']:.1f} s",
                flush=True,
            )
    if not encodes:
        return {}
    return {"encode_s": statistics.median(encodes), "ingest_real_s": statistics.median(ingests),
            "encode_ratio": statistics.median(i / e for i, e in zip(ingests, encodes, strict=True)),
            "ratio_runs": [round(i / e, 3) for i, e in zip(ingests, encodes, strict=True)],
            "embed_in_ingest_s": [None if x is None else round(x, 1) for x in inside]}  # fmt: skip


def bench_reingest(args) -> dict:
    """Re-ingest of the unchanged bundled library, in-process and through the CLI."""
    vectors = "random" if args.random_vectors else "real"
    store = OUT / f"store_bundled_{vectors}"
    shutil.rmtree(store, ignore_errors=True)
    print("bundled library: first ingest ...", flush=True)
    run_phase(
        "_ingest", args.timeout, store=store, file=ROOT / "data", random_vectors=args.random_vectors
    )
    again = run_phase("_ingest", args.timeout, store=store, file=ROOT / "data")
    walls, runs = [], []
    for _ in range(3):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", "--store", str(store)],
                              capture_output=True, text=True, cwd=ROOT)  # fmt: skip
        walls.append(time.perf_counter() - started)
        summary = done.stdout.strip().splitlines()[-1]
        runs.append(summary)
    out = {"reingest_s": again.get("ingest_s"), "reingest_embedded": again.get("embedded_texts"),
           "cli_wall_s": statistics.median(walls), "cli_summary": runs[-1]}  # fmt: skip
    print(f"  {out}", flush=True)
    return out


# ------------------------------------------------------------------ cold start
COLD_QUESTIONS = (
    "What does the universal adversarial perturbation paper find?",
    "How much memory does post-training quantization of vision-language models save?",
    "Which papers study retrieval-augmented generation?",
)
# What a one-off `rag ask` imported before the query path lost torch and LlamaIndex:
# the encoder's framework and library, the store's client and the query engine's.
OLD_IMPORT_FLOOR = "import torch, sentence_transformers, chromadb, llama_index.core"


def bench_cold(args) -> dict:
    """Process start to printed answer for a one-off `rag ask` (extractive) on the bundled
    library, against the bare interpreter and the old import floor, measured in
    alternating rounds so each ratio compares runs made under the same load."""
    store = OUT / "store_bundled_real"
    if not (store / "chroma.sqlite3").exists():
        print("cold start: ingesting the bundled library (real vectors) ...", flush=True)
        run_phase("_ingest", args.timeout, store=store, file=ROOT / "data")
    rag = [sys.executable, "-m", "rag.cli"]
    env = os.environ | {"RAG_STORE": str(store), "RAG_LLM": "extractive"}
    commands = {
        "python_s": [sys.executable, "-c", "pass"],
        "old_import_floor_s": [sys.executable, "-c", OLD_IMPORT_FLOOR],
        "help_s": [*rag, "--help"],
        "ask_s": None,  # one of COLD_QUESTIONS per round
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(args.cold_rounds):
        for name, cmd in commands.items():
            cmd = cmd or [*rag, "ask", COLD_QUESTIONS[i % len(COLD_QUESTIONS)]]
            started = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
            times[name].append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"cold start: {' '.join(cmd)} failed: {done.stderr[-500:]}")
    out: dict = {name: statistics.median(t) for name, t in times.items()}
    out["ask_over_python"] = statistics.median(
        a / p for a, p in zip(times["ask_s"], times["python_s"], strict=True)
    )
    out["ask_over_old_floor"] = statistics.median(
        a / f for a, f in zip(times["ask_s"], times["old_import_floor_s"], strict=True)
    )
    out |= {"rounds": args.cold_rounds, "load": round(os.getloadavg()[0], 2)}
    print(f"  {out}", flush=True)
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in PHASES:
        parser = argparse.ArgumentParser()
        for flag in ("--store", "--chroma-url", "--file"):
            parser.add_argument(flag, default=None)
        parser.add_argument("--queries", type=int, default=40)
        parser.add_argument("--random-vectors", action="store_true")
        parser.add_argument("--torch-threads", type=int, default=None)
        args = parser.parse_args(sys.argv[2:])
        if args.torch_threads:
            import torch

            torch.set_num_threads(args.torch_threads)
        if args.file and Path(args.file).is_dir():
            args.file = str(args.file)
        print(json.dumps(PHASES[sys.argv[1]](args)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="library sizes, comma-separated"
    )
    parser.add_argument(
        "--random-vectors", action="store_true", help="random unit vectors instead of the model"
    )
    parser.add_argument("--stores", default="embedded,server", help="embedded, server or both")
    parser.add_argument("--queries", type=int, default=40, help="questions timed per mode")
    parser.add_argument(
        "--repeats", type=int, default=3, help="alternating ingest/encode runs for the ratio"
    )
    parser.add_argument(
        "--no-reingest", action="store_true", help="skip the bundled re-ingest timing"
    )
    parser.add_argument("--timeout", type=float, default=5400, help="seconds per phase")
    parser.add_argument(
        "--cold-rounds", type=int, default=7, help="alternating rounds of the cold-start timing"
    )
    parser.add_argument(
        "--cold-only", action="store_true", help="only the cold-start timing (no library sizes)"
    )
    parser.add_argument(
        "--query-only",
        action="store_true",
        help="time the queries again on the stores an earlier run left (e.g. on a quieter machine)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch threads in every phase (default: torch's)",
    )
    args = parser.parse_args()
    THREADS.extend([args.torch_threads] if args.torch_threads else [])
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": []}
    results["cold"] = bench_cold(args)
    write(results)
    if args.cold_only:
        print(f"wrote {RESULTS} and {DOCS / 'bench.md'}")
        return
    if not args.no_reingest:
        results["reingest"] = bench_reingest(args) | {
            "vectors": "random" if args.random_vectors else "real"
        }
        write(results)
    for size in (int(s) for s in args.sizes.split(",")):
        for row in bench_size(size, args, results["rows"]):
            key = _key(row)
            results["rows"] = [r for r in results["rows"] if _key(r) != key] + [row]
            write(results)
    print(f"wrote {RESULTS}, {DOCS / 'bench.md'} and {DOCS / 'bench.png'}")


def _key(row: dict) -> tuple:
    return row["size"], row["vectors"], row["store"], row.get("torch_threads")


def write(results: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    from bench_report import write_report

    write_report(results, DOCS)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
