"""Stopping an answer while it streams ends the LLM request too: in the engine, on
the command line (Ctrl-C) and in the chat (the Stop button, in a real browser).

The LLM is a real HTTP server on 127.0.0.1 speaking OpenAI's streamed chat wire
format, slowly (one word every STEP seconds, far longer in all than any test
waits), so a stream is certainly still running when it is stopped; the server
notes when the client hangs up, which is how "the request was cancelled" is seen.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import test_ui_browser as shared
from playwright.sync_api import expect
from test_ui_browser import DESKTOP, open_page
from ui_server import launch

from rag.config import Config
from rag.engine import Engine
from ui import chat

QUESTION = "How much memory does post-training quantization of vision-language models save?"
WORDS = 600  # words the server would send in all
STEP = 0.2  # seconds between words: two minutes for the whole reply
HANG_UP = 60  # seconds to wait for the server to notice the client is gone

browser = shared.browser


class SlowLLM:
    """Counts the words it sent and sets `hung_up` when a write finds the client gone."""

    def __init__(self, words: int = WORDS) -> None:
        self.words = words
        self.sent = 0
        self.started = threading.Event()
        self.hung_up = threading.Event()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the body ends when the connection does
                llm.started.set()
                try:
                    for i in range(llm.words):
                        delta = {"role": "assistant", "content": f"word{i} "}
                        chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0,
                                 "model": "m", "choices": [{"index": 0, "delta": delta,
                                                            "finish_reason": None}]}  # fmt: skip
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        llm.sent += 1
                        time.sleep(STEP)
                except (BrokenPipeError, ConnectionResetError):
                    llm.hung_up.set()

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def slow_llm(words: int = WORDS) -> Iterator[tuple[SlowLLM, str]]:
    llm = SlowLLM(words)
    server = ThreadingHTTPServer(("127.0.0.1", 0), llm.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield llm, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def slow_config(store: Path, base_url: str) -> Config:
    """A library answered by the slow server, through the OpenAI-compatible backend."""
    return Config.from_env({}, store=store, llm="openai", llm_base_url=base_url, llm_model="m")


def assert_request_cancelled(llm: SlowLLM) -> None:
    assert llm.hung_up.wait(HANG_UP), f"the LLM request kept running ({llm.sent} words sent)"
    assert llm.sent < WORDS


def test_closing_the_answer_stream_closes_the_llm_request(library_store, embedder):
    with slow_llm() as (llm, base_url):
        config = slow_config(library_store, base_url)
        events = Engine(config, embedder=embedder).ask_stream(QUESTION)
        pieces = [next(events) for _ in range(3)]
        assert all(isinstance(p, str) for p in pieces) and "word0" in "".join(pieces)
        events.close()
        assert_request_cancelled(llm)


def test_ctrl_c_stops_rag_ask_and_its_llm_request(library_store):
    with slow_llm() as (llm, base_url):
        env = os.environ | {"RAG_LLM": "openai", "RAG_LLM_BASE_URL": base_url, "RAG_LLM_MODEL": "m"}
        rag = Path(sys.executable).with_name("rag")
        process = subprocess.Popen(
            [str(rag), "ask", "--store", str(library_store), QUESTION],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.read(5) == "word0"  # the answer is streaming
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=120)
        finally:
            process.kill()
        assert process.returncode == 130
        assert "stopped: the answer was not finished" in err
        assert "Traceback" not in err
        assert_request_cancelled(llm)


def test_after_stop_the_chat_handler_sends_nothing_more(library_store, embedder):
    """Gradio's cancel reaches the running handler some time after Stop's own update has
    gone out; an update sent in between would overwrite the note and empty the box, so
    the handler itself stops at once, and closes the LLM request."""
    with slow_llm() as (llm, base_url):
        config = slow_config(library_store, base_url)
        ask = chat.make_ask(Engine(config, embedder=embedder))
        session = chat.ChatSession()
        updates = ask(QUESTION, session, "openai", 5, "", "any", "any", [], True, False)
        first = next(updates)
        assert first[0] == "" and first[1][0]["role"] == "user"  # the question is taken
        assert "word0" in next(updates)[1][-1]["content"]  # the answer is streaming
        box, shown, *_ = chat.stopped("", session, False)
        assert box == QUESTION and shown[-1]["content"] == chat.STOPPED
        assert list(updates) == []  # no update after Stop's
        assert_request_cancelled(llm)
        assert session.messages[-1]["content"] == chat.STOPPED


def test_leaving_the_chat_ends_the_answer_being_written(library_store, embedder):
    """New chat (and the trash button, which calls the same handler) mid-answer: the old
    chat's handler sends nothing more into the new chat's view, and its LLM request ends."""
    with slow_llm() as (llm, base_url):
        ask = chat.make_ask(Engine(slow_config(library_store, base_url), embedder=embedder))
        session = chat.ChatSession()
        updates = ask(QUESTION, session, "openai", 5, "", "any", "any", [], True, False)
        next(updates)
        assert "word0" in next(updates)[1][-1]["content"]  # the answer is streaming
        box, shown, _, fresh, *_ = chat.new_chat(session, False)
        assert shown == [] and fresh is not session
        assert list(updates) == []  # nothing more from the old chat's answer
        assert_request_cancelled(llm)


@pytest.fixture(params=[WORDS])
def llm_app(request, library_store, embedder, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(library_store, store)
    with slow_llm(request.param) as (llm, base_url):
        config = slow_config(store, base_url)
        demo, address = launch(Engine(config, embedder=embedder), config)
        try:
            yield llm, address
        finally:
            demo.close()


def test_the_stop_button_ends_the_stream_and_the_llm_request(browser, llm_app):
    llm, url = llm_app
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    expect(page.locator("#stop")).to_be_hidden()
    page.fill("#question textarea", QUESTION)
    page.click("#ask")
    expect(page.locator("#chatbot")).to_contain_text("word2", timeout=120_000)  # streaming
    expect(page.locator("#ask")).to_be_hidden()
    page.click("#stop")
    expect(page.locator("#chatbot")).to_contain_text("Stopped before the answer was finished")
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#ask")).to_be_visible()
    expect(page.locator("#question textarea")).to_have_value(QUESTION)  # to edit or resend
    assert_request_cancelled(llm)
    # Still so once the request is gone: no update of the stopped answer came after Stop's.
    expect(page.locator("#chatbot")).to_contain_text("Stopped before the answer was finished")
    expect(page.locator("#question textarea")).to_have_value(QUESTION)
    assert "word0" not in page.inner_text("#chatbot")  # the unchecked part is not kept
    assert page.locator("#export").is_disabled()  # nothing answered, nothing to export
    assert dialogs == []
    page.close()


@pytest.mark.parametrize("llm_app", [12], indirect=True)  # a short reply: 2.4 s
def test_the_next_question_can_be_typed_while_an_answer_streams(browser, llm_app):
    llm, url = llm_app
    page = open_page(browser, url, DESKTOP, [])
    page.fill("#question textarea", QUESTION)
    page.click("#ask")
    expect(page.locator("#question textarea")).to_have_value("")  # taken at once
    expect(page.locator("#chatbot")).to_contain_text("word1", timeout=120_000)  # streaming
    page.fill("#question textarea", "And how much accuracy does it cost?")
    expect(page.locator("#ask")).to_be_visible(timeout=120_000)  # the answer is finished
    expect(page.locator("#chatbot .answer-meta")).to_contain_text("openai")  # its notes line
    expect(page.locator("#question textarea")).to_have_value("And how much accuracy does it cost?")
    page.close()
