"""The Gradio app: a thin shell over one shared rag.engine.Engine.

    demo = build_app(engine, config)
    demo.launch(**launch_options(config))      # or: serve(config)

Tabs: Chat (streamed answers with linked source cards), Library (table, detail,
upload, remove) and Evaluate (the eval suite with a chart). The answer settings
sit in the sidebar; every browser session has its own settings and history.
API endpoints (for gradio_client): /ask, /new_chat, /library, /papers, /ingest,
/remove, /eval. With MCP on (`rag serve --mcp`), Gradio's MCP server at
/gradio_api/mcp offers the tools of mcp_tools.py, and only those.
"""

from __future__ import annotations

import sys
from typing import Any

import gradio as gr

from rag.config import Config
from rag.engine import Engine

from . import auth, chat, eval_tab, library, mcp_tools, scratch, script, style
from . import settings as settings_ui

TITLE = "Paper QA"
SUBTITLE = "Ask the library of paper abstracts; every answer cites the sentence it came from."
# The sidebar opens over the whole screen on phones: start it closed there.
CLOSE_SIDEBAR_ON_PHONES = """() => {
  const bar = document.querySelector('#settings.open');
  if (bar && window.innerWidth <= 768) bar.querySelector('.toggle-button')?.click();
}"""
# Gradio refuses uploads above this many times the per-file limit outright; files
# between the limit and this cap reach the app and get a per-file message instead.
HARD_UPLOAD_CAP_FACTOR = 5
CACHE_SWEEP_S = scratch.KEEP_S  # Gradio deletes its cached uploads and downloads after this


def build_app(engine: Engine, config: Config, mcp: bool = False) -> gr.Blocks:
    """The whole app over one engine; queued with config.concurrency workers.
    mcp: also the MCP tools (served when launched with launch_options(config, mcp=True))."""
    papers = engine.papers()
    with gr.Blocks(
        title=TITLE,
        analytics_enabled=False,
        fill_width=True,
        delete_cache=(CACHE_SWEEP_S, CACHE_SWEEP_S),
    ) as demo:
        with gr.Sidebar(label="Settings", open=True, width=290, elem_id="settings"):
            settings = settings_ui.build(config, *engine.facets())
        gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_classes="app-title")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chat_widgets = chat.build(engine, chat.example_questions(papers))
            with gr.Tab("Library", id="library", elem_id="library-tab"):
                library_widgets = library.build(engine)
            with gr.Tab("Evaluate", id="eval", elem_id="eval-tab"):
                eval_widgets = eval_tab.build(config.eval_out)
        chat.wire(demo, engine, chat_widgets, settings)
        library.wire(engine, config, library_widgets)
        eval_tab.wire(engine, config, eval_widgets, settings)
        # Another user may have changed the library since the app was built.
        demo.load(
            lambda: library.library_view(engine),
            None,
            [library_widgets.count, library_widgets.table],
            api_visibility="private",
        )
        # The year and category choices follow the library: on page load, and whenever
        # the library count changes (an upload, a removal, a refresh).
        choices = [settings.since, settings.until, settings.categories]
        demo.load(lambda: library_filter_choices(engine), None, choices, api_visibility="private")
        library_widgets.count.change(
            lambda: library_filter_choices(engine), None, choices, api_visibility="private"
        )
        # The Chat tab says how many papers it answers from, kept current the same way.
        size = chat_widgets.size
        for trigger in (demo.load, library_widgets.count.change):
            trigger(lambda: chat.library_size(engine.count()), None, size, api_visibility="private")
        # Benchmark reports written since the app started (rag bench-retrieval).
        demo.load(
            lambda: eval_tab.benchmarks(config.eval_out),
            None,
            [eval_widgets.benchmarks, eval_widgets.benchmark_note],
            api_visibility="private",
            queue=False,
        )
        demo.load(None, None, None, js=CLOSE_SIDEBAR_ON_PHONES, api_visibility="private")
        demo.load(None, None, None, js=script.JS, api_visibility="private")  # links, copy
        if mcp:
            mcp_tools.register(engine)  # last: it hides the endpoints wired above from MCP
    demo.queue(default_concurrency_limit=config.concurrency)
    return demo


def library_filter_choices(engine: Engine) -> tuple[dict, dict, dict]:
    """The filter dropdowns' choices for the library as it is now."""
    return settings_ui.filter_choices(*engine.facets())


def launch_options(config: Config, mcp: bool = False) -> dict[str, Any]:
    """Keyword arguments for demo.launch(): address, login, limits and looks; mcp: also
    Gradio's MCP server, behind the same login."""
    credentials = auth.load_credentials(config.ui_auth)
    return {
        "server_name": config.host,
        "server_port": config.port,
        "auth": credentials,
        "auth_message": "Log in to ask the paper library." if credentials else None,
        "max_file_size": int(config.max_upload_mb * 1024 * 1024 * HARD_UPLOAD_CAP_FACTOR),
        "css": style.CSS,
        "theme": gr.themes.Soft(primary_hue="indigo"),
        "footer_links": ["api", "settings"],
        "show_error": True,
        "ssr_mode": False,
        # Set either way: GRADIO_MCP_SERVER=true would make every UI endpoint a tool.
        "mcp_server": mcp,
        "app_kwargs": mcp_tools.login_guard(credentials) if mcp else None,
    }


def serve(config: Config, mcp: bool = False) -> None:
    """`rag serve`: ingest the data dir if the library is empty, then serve until stopped;
    mcp: also as an MCP server for LLM clients."""
    engine = Engine(config)
    if engine.count() == 0:
        print(f"the library is empty: ingesting {config.data_dir} first", file=sys.stderr)
        report = engine.ingest([config.data_dir], progress=_PrintProgress())
        print(f"{report.summary()}; library now holds {engine.count()} papers", file=sys.stderr)
    options = launch_options(config, mcp)
    warning = auth.exposure_warning(config.host, options["auth"])
    if warning:
        print(warning, file=sys.stderr)
    demo = build_app(engine, config, mcp)
    demo.launch(**options)


class _PrintProgress:
    """Ingest progress on stderr, a line per tenth of the way (no bar: logs stay readable)."""

    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, done: int, total: int, message: str) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth != self.shown:
            self.shown = tenth
            print(f"  ingested {done}/{total} {message}", file=sys.stderr, flush=True)
