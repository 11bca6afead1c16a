"""The Gradio app served for real on 127.0.0.1, for the API and browser tests."""

from __future__ import annotations

from llama_server import free_port

from rag.config import Config
from rag.engine import Engine
from ui.app import build_app, launch_options


def launch(engine: Engine, config: Config, mcp: bool = False):
    """The real app in Gradio's background thread, on a free port; returns (demo, url).
    mcp: with the MCP server and its tools, as `rag serve --mcp`."""
    demo = build_app(engine, config, mcp)
    options = launch_options(config, mcp) | {
        "server_name": "127.0.0.1",
        "server_port": free_port(),
        "prevent_thread_lock": True,
        "quiet": True,
    }
    _, url, _ = demo.launch(**options)
    return demo, url
