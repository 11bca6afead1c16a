"""Chroma server mode: a real `chroma run` on 127.0.0.1 with its data in tmp_path, and
the real CLI pointed at it with --chroma-url / RAG_CHROMA_URL."""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DATA, ROOT, run_rag

CHROMA = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "chroma"
ZOTERO = ROOT / "tests" / "fixtures" / "formats" / "zotero.bib"
COLLABORATORS = DATA / "001_1ece1b79f2be732d.txt"
STARTUP_SECONDS = 120  # a bound on waiting for the heartbeat, not a speed assertion


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """`chroma run` on a free port; yields its URL once the heartbeat answers."""
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (data / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(data / "db"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_ingest_ask_list_and_remove_through_a_chroma_server(chroma_server, tmp_path):
    url = chroma_server
    first = run_rag("ingest", "--chroma-url", url, str(ZOTERO), str(COLLABORATORS), check=True)
    held = int(re.search(r"library now holds (\d+) papers", first.stdout).group(1))
    assert held >= 10 and f"{COLLABORATORS}: collaborating-authors page" in first.stdout
    assert not (tmp_path / "vectorstore").exists()

    listed = json.loads(run_rag("papers", "--json", "--chroma-url", url, check=True).stdout)
    titles = {p["title"]: p for p in listed}
    assert len(listed) == held and "Attention Is All You Need" in titles
    assert titles["Attention Is All You Need"]["sources"] == ["zotero.bib"]

    asked = run_rag("ask", "--json", "Which network architecture is based solely on attention mechanisms?",
                    env={"RAG_CHROMA_URL": url}, check=True)  # fmt: skip
    answer = json.loads(asked.stdout)
    assert answer["retrieved"][0]["title"] == "Attention Is All You Need"
    assert answer["citations"] and answer["citations"][0]["title"] == "Attention Is All You Need"

    # The file manifest lives in the server too: nothing is embedded again.
    again = run_rag("ingest", "--chroma-url", url, str(ZOTERO), str(COLLABORATORS), check=True)
    assert f"papers: 0 added, 0 updated, {held} unchanged" in again.stdout
    assert "(0 texts embedded)" in again.stdout

    paper_id = titles["Attention Is All You Need"]["paper_id"]
    removed = run_rag("remove", paper_id, "--chroma-url", url, check=True)
    assert f"library now holds {held - 1} papers" in removed.stdout
    back = run_rag("ingest", "--chroma-url", url, str(ZOTERO), check=True)
    assert "papers: 1 added, 0 updated" in back.stdout


def assert_one_line_error(result: subprocess.CompletedProcess, start: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(start), result.stderr


@pytest.mark.parametrize(
    "command", [["papers"], ["ingest", str(ZOTERO)], ["ask", "What is attention?"]]
)
def test_a_chroma_server_that_is_down_gives_one_clear_line(command):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = run_rag(*command, "--chroma-url", url)

    assert_one_line_error(result, f"Error: cannot reach the Chroma server at {url} (")
    assert "chroma run --path DIR --port PORT" in result.stderr


def test_a_url_that_is_not_a_chroma_server_gives_one_clear_line():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = run_rag("papers", env={"RAG_CHROMA_URL": url})
    finally:
        server.shutdown()

    assert_one_line_error(result, f"Error: cannot reach the Chroma server at {url} (")


def test_a_chroma_url_without_http_is_rejected_before_connecting():
    result = run_rag("papers", "--chroma-url", "127.0.0.1:8000")

    assert_one_line_error(
        result, "Error: Chroma URL '127.0.0.1:8000' must start with http:// or https://"
    )
