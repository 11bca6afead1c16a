"""Load test: concurrent chat users and an ingest against the real app.

    python bench/load.py                      # 20 users for 60 s on a copy of the library
    python bench/load.py --users 20 --seconds 60 --store vectorstore --out docs/load.md

Starts the app with `rag serve` (ui.app: build_app over one Engine) on 127.0.0.1 on a
free port, then for --seconds runs --users chat users through gradio_client, each
asking the eval questions one after another, while one more user uploads a file of
new papers through the app's /ingest endpoint. Reports errors, requests completed,
latency percentiles and the server's resident memory (sampled) at start, middle and
end, prints them and writes them to --out. Exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "questions.jsonl"
SAMPLE_SECONDS = 0.5  # RSS sampling period
STARTUP_TIMEOUT = 900.0  # seconds for `rag serve` to answer (first start ingests)
WORDS = (
    "robust training adversarial network transformer attention diffusion sparse rate "
    "reduction gradient convergence benchmark dataset language vision policy reward "
    "certified bound interval propagation pruning quantization retrieval"
).split()


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since load start, bytes)
    ingest: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def new_papers(path: Path, n: int) -> None:
    """n papers the library does not hold, as JSON lines."""
    rng = random.Random(11)
    with path.open("w") as f:
        for i in range(n):
            abstract = " ".join(
                " ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + "." for _ in range(4)
            )
            f.write(json.dumps({"title": f"Load test paper {i}: {rng.choice(WORDS)}", "abstract": abstract,
                                "authors": ["Lo Ad", "Te St"], "year": 2025}) + "\n")  # fmt: skip


def start_server(store: Path, port: int) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_STORE": str(store), "RAG_UI_AUTH": ""}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "rag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not any("Running on" in line for line in lines):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("the app did not start:\n" + "".join(lines[-30:]))
        time.sleep(0.2)
    return proc, lines


def chat_user(url: str, user: int, questions: list[str], stop: float, results: Results) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    i = user
    while time.monotonic() < stop:
        question = questions[i % len(questions)]
        i += 7  # users walk the questions in different orders
        started = time.monotonic()
        try:
            _, chat, *_ = client.predict(question, api_name="/ask")
            answer = chat[-1]["content"] if chat else None
            if not answer:
                raise RuntimeError(f"empty answer to {question!r}")
        except Exception as exc:  # every failure is counted, none ends the run
            with results.lock:
                results.errors.append(f"user {user}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        with results.lock:
            results.latencies.append(time.monotonic() - started)


def ingest_user(url: str, path: Path, delay: float, results: Results) -> None:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    time.sleep(delay)
    started = time.monotonic()
    try:
        summary, *_ = client.predict([handle_file(str(path))], api_name="/ingest")
        papers = client.predict(api_name="/papers")
        results.ingest = {"seconds": time.monotonic() - started, "summary": " ".join(str(summary).split()),
                          "library_papers": len(papers)}  # fmt: skip
    except Exception as exc:
        with results.lock:
            results.errors.append(f"ingest: {type(exc).__name__}: {str(exc)[:200]}")


def sample_memory(pid: int, t0: float, stop: threading.Event, results: Results) -> None:
    while not stop.is_set():
        try:
            results.rss.append((time.monotonic() - t0, rss_bytes(pid)))
        except OSError:
            return
        stop.wait(SAMPLE_SECONDS)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--store", type=Path, default=None,
                        help="a store to copy (default: ingest data/ into a temporary one)")  # fmt: skip
    parser.add_argument(
        "--ingest-papers", type=int, default=200, help="papers the ingesting user uploads"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "load.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag_load_"))
    store = work / "store"
    if args.store:
        shutil.copytree(args.store, store)
    upload = work / "load_papers.jsonl"
    new_papers(upload, args.ingest_papers)
    questions = [
        json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()
    ]

    port = free_port()
    print(f"starting the app on 127.0.0.1:{port} (store {store}) ...", flush=True)
    proc, log = start_server(store, port)
    url = f"http://127.0.0.1:{port}/"
    results = Results()
    try:
        from gradio_client import Client

        warm = Client(url, verbose=False)
        library_before = len(warm.predict(api_name="/papers"))
        warm.predict(questions[0], api_name="/ask")  # models loaded before the clock starts
        t0 = time.monotonic()
        stop_sampling = threading.Event()
        sampler = threading.Thread(
            target=sample_memory, args=(proc.pid, t0, stop_sampling, results)
        )
        sampler.start()
        stop = t0 + args.seconds
        threads = [
            threading.Thread(target=chat_user, args=(url, u, questions, stop, results))
            for u in range(args.users)
        ]
        threads.append(threading.Thread(target=ingest_user, args=(url, upload, 5.0, results)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - t0
        time.sleep(2 * SAMPLE_SECONDS)
        stop_sampling.set()
        sampler.join()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)

    figures = summarise(args, results, wall, library_before)
    report = format_report(figures, results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    print(f"wrote {args.out}")
    return 1 if results.errors else 0


def summarise(args, results: Results, wall: float, library_before: int) -> dict:
    lat = results.latencies
    rss = results.rss or [(0.0, 0)]

    def at(seconds: float) -> int:
        return min(rss, key=lambda sample: abs(sample[0] - seconds))[1]

    return {
        "users": args.users,
        "seconds": args.seconds,
        "wall_seconds": wall,
        "requests": len(lat),
        "errors": len(results.errors),
        "throughput": len(lat) / wall if wall else 0.0,
        "p50": percentile(lat, 0.50),
        "p95": percentile(lat, 0.95),
        "max": max(lat) if lat else float("nan"),
        "mean": statistics.fmean(lat) if lat else float("nan"),
        "rss_start": at(0.0),
        "rss_middle": at(args.seconds / 2),
        "rss_end": at(args.seconds),
        "rss_peak": max(b for _, b in rss),
        "rss_timeline": [(t, at(t)) for t in range(0, int(args.seconds) + 1, 10)],
        "library_before": library_before,
        "ingest": results.ingest,
    }


def format_report(f: dict, results: Results) -> str:
    mb = 2**20
    ingest = f["ingest"]
    lines = [
        "# Load test",
        "",
        f"`python bench/load.py --users {f['users']} --seconds {f['seconds']:g}`: {f['users']} chat "
        f"users asking the eval questions back to back through gradio_client against `rag serve` "
        "on 127.0.0.1, while one more user uploads a file of new papers through /ingest.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| users x duration | {f['users']} x {f['seconds']:g} s (wall {f['wall_seconds']:.0f} s) |",
        f"| requests completed | {f['requests']} ({f['throughput']:.2f}/s) |",
        f"| errors | {f['errors']} |",
        f"| latency p50 / p95 / max | {f['p50']:.2f} s / {f['p95']:.2f} s / {f['max']:.2f} s |",
        f"| server RSS start / middle / end | {f['rss_start'] / mb:.0f} / {f['rss_middle'] / mb:.0f} / "
        f"{f['rss_end'] / mb:.0f} MB |",
        f"| server RSS peak | {f['rss_peak'] / mb:.0f} MB |",
        "| server RSS every 10 s | "
        + ", ".join(f"{t} s: {b / mb:.0f}" for t, b in f["rss_timeline"])
        + " MB |",
        f"| library before | {f['library_before']} papers |",
    ]
    if ingest:
        lines.append(
            f"| concurrent ingest | {ingest['seconds']:.1f} s, library then {ingest['library_papers']} "
            f"papers: {ingest['summary'][:160]} |"
        )
    lines += [
        "",
        f"Machine: {os.cpu_count()} CPU cores; latency includes waiting in the app's queue.",
        "",
    ]
    if results.errors:
        lines += ["## Errors", ""] + [f"- {e}" for e in results.errors[:50]] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
