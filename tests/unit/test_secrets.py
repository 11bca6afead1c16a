"""Exposure: a login really guards the API, serving off loopback without one warns, and
an API key never reaches the store, the eval outputs or the console.

The app runs for real on 127.0.0.1 and is probed with plain HTTP (no client library
that might add credentials). The key test points the openai backend at a closed port
and at a real little HTTP server that echoes the key back in its 401 error, as some
providers do, and greps every file written and every line printed.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.cookiejar import CookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT, run_rag

from rag.config import Config

PAPERS = [
    ("Certified Training with Small Boxes", "We train certified defenses with small boxes. "
     "Small boxes make certified training faster."),
    ("Interval Bound Propagation Explained", "Interval bound propagation gives certified "
     "robustness. Its bounds tighten during training."),
    ("Sparse Rate Reduction Transformers", "We derive transformers from sparse rate reduction. "
     "Each layer compresses the tokens."),
]  # fmt: skip
USER, PASSWORD = "alice", "pw-" + uuid.uuid4().hex[:8]
PROTECTED = [  # (method, path): everything that reads the library or runs the engine
    ("GET", "/config"),
    ("GET", "/gradio_api/info"),
    ("GET", "/gradio_api/openapi.json"),
    ("POST", "/gradio_api/call/ask"),
    ("POST", "/gradio_api/call/library"),
    ("POST", "/gradio_api/queue/join"),
    ("GET", "/gradio_api/queue/data?session_hash=abc"),
    ("POST", "/gradio_api/upload"),
    ("GET", "/gradio_api/file=/etc/passwd"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def papers_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "papers.jsonl"
    with path.open("w") as f:
        for title, abstract in PAPERS:
            f.write(json.dumps({"title": title, "abstract": abstract, "year": 2024}) + "\n")
    return path


@pytest.fixture(scope="module")
def small_store(tmp_path_factory, papers_file, embedder) -> Path:
    from chromadb.api.client import SharedSystemClient

    from rag.engine import Engine

    store = tmp_path_factory.mktemp("secrets_store") / "store"
    Engine(Config.from_env({}, store=store), embedder=embedder).ingest([papers_file])
    SharedSystemClient.clear_system_cache()
    return store


def fetch(method: str, url: str, data: bytes | None = None, opener=None, form: bool = False):
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    if method == "POST" and data is None:
        data = json.dumps({"data": ["What is certified training?"]}).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": content_type}
    )
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=60) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


# ----------------------------------------------------------------- login


def test_api_refuses_requests_without_login(small_store, embedder):
    from rag.engine import Engine
    from ui.app import build_app, launch_options

    port = free_port()
    config = Config.from_env({}, store=small_store, ui_auth=f"{USER}:{PASSWORD}", port=port)
    demo = build_app(Engine(config, embedder=embedder), config)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(config))
    base = f"http://127.0.0.1:{port}"
    try:
        for method, path in PROTECTED:
            status, body = fetch(method, base + path)
            assert status == 401, (method, path, status, body[:200])
            assert not any(title in body for title, _ in PAPERS)
        status, page = fetch("GET", base + "/")  # the login page itself
        assert status == 200 and not any(title in page for title, _ in PAPERS)

        jar = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        wrong = f"username={USER}&password=wrong".encode()
        assert fetch("POST", base + "/login", wrong, jar, form=True)[0] in (400, 401)
        assert fetch("GET", base + "/config", opener=jar)[0] == 401
        right = f"username={USER}&password={PASSWORD}".encode()
        assert fetch("POST", base + "/login", right, jar, form=True)[0] == 200
        status, body = fetch("GET", base + "/gradio_api/info", opener=jar)
        assert status == 200 and "/ask" in body  # the same request, now let in
    finally:
        demo.close()


def test_serving_off_loopback_without_login_warns(small_store):
    """`rag serve --host 0.0.0.0` without RAG_UI_AUTH says so on stderr before serving."""
    from ui.auth import exposure_warning

    assert exposure_warning("0.0.0.0", [(USER, PASSWORD)]) is None
    assert exposure_warning("127.0.0.1", None) is None
    port = free_port()
    env = {"RAG_UI_AUTH": "", "RAG_STORE": str(small_store)}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "rag.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        cwd=ROOT, env={**_environ(), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 600  # a hang guard, not a speed check
        while not any("Running on" in line for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    warnings = [
        line for line in lines if line.startswith("warning: serving on 0.0.0.0 without a login")
    ]
    assert len(warnings) == 1, "".join(lines)
    assert "RAG_UI_AUTH" in warnings[0]
    assert lines.index(warnings[0]) < next(
        i for i, line in enumerate(lines) if "Running on" in line
    )


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


# ------------------------------------------------------------------ secrets


class EchoKeyHandler(BaseHTTPRequestHandler):
    """A provider that rejects the key and quotes it back in the error, as some do."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("Authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "code": 401}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoKeyHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_api_key_is_never_written_or_printed(papers_file, tmp_path, echo_server):
    secret = "sk-test-SECRET-" + uuid.uuid4().hex
    store, out = tmp_path / "store", tmp_path / "eval_out"
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "question": q,
                    "kind": "factoid",
                    "gold_titles": [t],
                    "answer_keywords": [k],
                }
            )
            for i, (q, t, k) in enumerate(
                [
                    ("How are certified defenses trained?", PAPERS[0][0], "small boxes"),
                    ("What happens to interval bounds during training?", PAPERS[1][0], "tighten"),
                ]
            )
        )
        + "\n"
    )
    closed = f"http://127.0.0.1:{free_port()}/v1"
    env = {"RAG_LLM_API_KEY": secret, "RAG_LLM_MODEL": "gpt-test", "RAG_STORE": str(store)}
    runs = [
        ({}, ["ingest", str(papers_file)]),
        ({"RAG_LLM_BASE_URL": closed}, ["ask", "How are certified defenses trained?", "--llm", "openai"]),
        ({"RAG_LLM_BASE_URL": echo_server}, ["ask", "How are certified defenses trained?", "--llm", "openai"]),
        ({"RAG_LLM_BASE_URL": echo_server}, ["ask", "How are certified defenses trained?", "--llm", "openai", "--json"]),
        ({"RAG_LLM_BASE_URL": echo_server}, ["eval", "--questions", str(questions), "--out", str(out),
                                             "--no-ablation", "--llm", "openai"]),
    ]  # fmt: skip
    printed = []
    for extra, args in runs:
        result = run_rag(*args, env={**env, **extra})
        assert result.returncode == 0, result.stderr
        printed.append(result.stdout + result.stderr)
    console = "\n".join(printed)
    # The backend really was tried and failed both ways, and the user was told.
    assert "cannot connect" in console
    assert "the API key was rejected (HTTP 401)" in console
    assert "answered with the extractive backend instead" in console

    written = [p for folder in (store, out) for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == "chroma.sqlite3" for p in written) and (out / "results.jsonl").exists()
    needles = [secret, secret[len("sk-test-") :], secret[-16:]]  # whole, or a tail of it
    for needle in needles:
        assert needle not in console, "the key was printed"
        for path in written:
            assert needle.encode() not in path.read_bytes(), f"the key is in {path}"
