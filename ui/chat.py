"""The chat tab: questions stream into answers whose [n] markers link to source cards.

Each browser session keeps its own ChatSession in a gr.State: the chat messages,
every answer (for its cards and the export), the sentence backing each marker, and
the Turn history the engine uses to read follow-up questions. "New chat" and the
chatbot's own clear button both start a new ChatSession. The engine itself is
shared and only read here.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from rag.answer.followup import Turn
from rag.engine import Engine
from rag.errors import InputError, RagError
from rag.export import answer_to_markdown
from rag.types import Answer, Paper

from . import cards, filterchips, history, scratch
from . import settings as settings_ui
from .evidence import EvidenceMap, marker_evidence

# Example questions for an empty chat, each with the paper that answers it; an
# example whose paper is not in the library is replaced by one about a paper that is.
CURATED_EXAMPLES = (
    (
        "Which method crafts universal adversarial perturbations without any training data?",
        "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations",
    ),
    (
        "How does sharpness-aware training for free avoid the extra cost of SAM?",
        "Sharpness-Aware Training for Free",
    ),
    (
        "Which papers train transformers on simple function classes to study in-context learning?",
        "Towards Better Understanding of In-Context Learning Ability from In-Context Uncertainty Quantification",
    ),
    (
        "What objective do white-box transformers optimise, layer by layer?",
        "White-Box Transformers via Sparse Rate Reduction",
    ),
)
EXAMPLES_SHOWN = 4


@dataclass
class ChatSession:
    """One browser session's conversation."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[str, Answer]] = field(default_factory=list)  # (card prefix, answer)
    evidence: dict[str, EvidenceMap] = field(default_factory=dict)  # by card prefix
    history: list[Turn] = field(default_factory=list)
    pending: str = ""  # the question being answered, for Stop to hand back
    # The running answer's token. Stop, New chat and opening another chat clear it, and
    # the handler writing that answer stops sending updates at once: Gradio's cancel
    # reaches the server later, and an update sent after Stop's own would overwrite
    # the note and empty the box again.
    asking: str = ""
    chat_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # in the history


@dataclass
class ChatWidgets:
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    stop: gr.Button
    new_chat: gr.Button
    export: gr.DownloadButton
    past: gr.Dropdown
    delete: gr.Button
    size: gr.Markdown
    saved: gr.BrowserState
    chips: filterchips.FilterChips
    sources: gr.HTML
    answer_json: gr.JSON
    session: gr.State


def example_questions(papers: Sequence[Paper], shown: int = EXAMPLES_SHOWN) -> list[str]:
    """Curated examples whose paper is in the library, topped up from the library.

    >>> example_questions([Paper.create("Tiny Paper", "x")], shown=2)
    ['What does the paper “Tiny Paper” propose?']
    """
    titles = {p.title.lower() for p in papers}
    chosen = [q for q, title in CURATED_EXAMPLES if title.lower() in titles]
    for paper in papers:
        if len(chosen) >= shown:
            break
        chosen.append(f"What does the paper “{paper.title}” propose?")
    return chosen[:shown]


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The export of a whole conversation: each turn's question, answer, references
    and BibTeX (rag.export), oldest first, separated by rules."""
    return "\n---\n\n".join(answer_to_markdown(a) for a in answers)


def export_file(answers: Sequence[Answer]) -> str:
    """Write the conversation's Markdown export to a fresh scratch folder, named
    after its first question; returns its path."""
    first = answers[0].question if answers else ""
    slug = re.sub(r"[^a-z0-9]+", "-", first.lower()).strip("-")[:48] or "answer"
    folder = scratch.new_folder("export-")
    path = folder / f"chat-{slug}.md"
    path.write_text(conversation_markdown(answers), encoding="utf-8")
    return str(path)


def library_size(count: int) -> str:
    """The line above the chat saying what the answers come from.

    >>> library_size(437), library_size(1), library_size(0)
    ('Answering from **437 papers** in the library.', 'Answering from **1 paper** in the library.', 'The library is empty: add papers in the Library tab.')
    """
    if not count:
        return "The library is empty: add papers in the Library tab."
    return f"Answering from **{count:,} paper{'s' if count != 1 else ''}** in the library."


def check_question(engine: Engine, question: str, follow_up: bool) -> None:
    """Raise InputError, saying what to change, for a question the engine would
    refuse; the limit on length is said in characters. A follow-up is checked only
    for length: the engine checks it once it has read it with the earlier turns."""
    limit = engine.config.max_question_chars
    length = len(" ".join(question.split()))
    if length > limit:
        raise InputError(
            f"The question is {length:,} characters long; the limit is {limit:,} characters. "
            "Shorten it."
        )
    if not follow_up:
        engine.validate_question(question)


def interrupt(session: ChatSession | None) -> None:
    """The answer being written in this session, if any, sends no more updates."""
    if session is not None:
        session.asking = ""


def _message(content: str, role: str = "assistant") -> dict[str, Any]:
    return {"role": role, "content": content}


def _outputs(
    session: ChatSession, show_uncited: bool, answer: Answer | None = None, question: Any = ""
):
    """Values for (question, chatbot, sources, session, answer_json, export). A new
    answer rewrites the conversation's export file; without answers there is none.
    `question` is the box's new text, or gr.skip() to leave what the reader typed."""
    export: Any
    if not session.answers:
        export = None
    elif answer is not None:
        export = export_file([a for _, a in session.answers])
    else:
        export = gr.skip()
    return (
        question,
        session.messages,
        cards.cards_panel(session.answers, bool(show_uncited), session.evidence),
        session,
        answer.to_json() if answer else None,
        export,
    )


def make_ask(engine: Engine):
    """The streaming chat handler over the shared engine."""

    def ask(
        question: str,
        session: ChatSession | None,
        backend: str | None,
        top_k: float | None,
        authors: str | None,
        since: str | None,
        until: str | None,
        categories: list[str] | None,
        include_undated: bool | None,
        show_uncited: bool,
    ) -> Iterator[tuple]:
        session = session or ChatSession()
        question = (question or "").strip()
        if not question:
            yield _outputs(session, show_uncited)
            return
        try:
            check_question(engine, question, follow_up=bool(session.history))
        except InputError as exc:  # nothing lands in the chat; the question stays in the box
            text = str(exc)
            gr.Warning(text[:1].upper() + text[1:])
            yield _outputs(session, show_uncited, question=question)
            return
        session.messages = [*session.messages, _message(cards.streaming_markdown(question), "user")]
        session.pending = question
        session.asking = token = uuid.uuid4().hex
        # The question shows at once and leaves the box; later updates leave the box
        # alone, so the reader can type the next question while this one is answered.
        yield ("", [*session.messages, _message("▌")], gr.skip(), gr.skip(), gr.skip(), gr.skip())
        try:
            options = settings_ui.read(
                backend, top_k, authors, since, until, categories, include_undated
            )
            events = engine.ask_stream(question, history=list(session.history), **options)
            text = ""
            answer: Answer | None = None
            # Stop cancels this handler: Gradio closes it, and closing the engine's
            # stream closes the LLM request (the server stops generating).
            with contextlib.closing(events):
                for event in events:
                    if session.asking != token:  # stopped or left: say nothing more
                        return
                    if isinstance(event, Answer):
                        answer = event
                        break
                    text += event
                    streaming = [
                        *session.messages,
                        _message(cards.streaming_markdown(text) + " ▌"),
                    ]
                    yield (gr.skip(), streaming, gr.skip(), gr.skip(), gr.skip(), gr.skip())
        except RagError as exc:  # say what to fix; the question stays in the box
            if session.asking != token:
                return
            session.messages = [*session.messages, _message(f"⚠ {cards.esc(exc)}")]
            yield _outputs(session, show_uncited, question=question)
            return
        finally:
            if session.asking == token:
                session.asking = ""
        if answer is None:  # stopped while the answer was being read
            return
        add_answer(engine, session, answer)
        yield _outputs(session, show_uncited, answer=answer, question=gr.skip())

    return ask


def add_answer(engine: Engine, session: ChatSession, answer: Answer) -> None:
    """The answer's messages (linked markers, notes), cards and turn, after its question."""
    prefix = uuid.uuid4().hex[:8]
    evidence = marker_evidence(answer, engine.embedder.embed_queries, engine.sentence_lookup())
    linked = cards.answer_markdown(answer.text, prefix, cards.linkable_numbers(answer), evidence)
    session.messages = [
        *session.messages,
        _message(linked),
        _message(cards.answer_notes_html(answer)),
    ]
    session.answers = [*session.answers, (prefix, answer)]
    session.evidence = {**session.evidence, prefix: evidence}
    session.history = [*session.history, Turn.of(answer)]


# ------------------------------------------------------------------ history
def reopen(engine: Engine, saved: dict | None) -> ChatSession:
    """A stored chat (ui/history.py) as a live session: the same messages and cards,
    and follow-ups that refer back to its last answer."""
    session = ChatSession()
    if not saved:
        return session
    session.chat_id = saved["id"]
    for data in saved.get("answers", []):
        answer = history.answer_from_json(data, engine.paper)
        question = _message(cards.streaming_markdown(answer.question), "user")
        session.messages = [*session.messages, question]
        add_answer(engine, session, answer)
    return session


def save(session: ChatSession | None, chats: list | None):
    """The history with this session's chat stored (first), and the list's choices."""
    session = session or ChatSession()
    answers = [a.to_json() for _, a in session.answers]
    chats = history.remember(chats, history.chat(session.chat_id, answers))
    current = session.chat_id if answers else None
    return chats, gr.Dropdown(choices=history.choices(chats), value=current)


def make_history(engine: Engine):
    """Handlers that open, restore and delete past chats."""

    def open_chat(chat_id: str | None, chats: list | None, show_uncited: bool,
                  current: ChatSession | None = None):  # fmt: skip
        interrupt(current)
        saved = history.find(chats, chat_id)
        session = reopen(engine, saved)
        last = session.answers[-1][1] if session.answers else None
        return _outputs(session, show_uncited, answer=last)

    def restore(chats: list | None, session: ChatSession | None, show_uncited: bool):
        """On page load: the list, and the newest chat reopened, unless the user has
        already started one (a question asked before the page finished loading)."""
        newest = (chats or [None])[0]
        chat_id = newest.get("id") if isinstance(newest, dict) else None
        if chat_id is None or (session is not None and session.messages):
            listing = gr.Dropdown(choices=history.choices(chats))
            return (*(gr.skip() for _ in range(6)), listing)
        listing = gr.Dropdown(choices=history.choices(chats), value=chat_id)
        return (*open_chat(chat_id, chats, show_uncited), listing)

    def delete(chat_id: str | None, chats: list | None, session: ChatSession | None,
               show_uncited: bool):  # fmt: skip
        """Forget the chosen chat; deleting the open one starts a new chat."""
        chats = history.forget(chats, chat_id)
        session = session or ChatSession()
        if chat_id == session.chat_id:
            interrupt(session)
            session = ChatSession()
        listing = gr.Dropdown(choices=history.choices(chats), value=None)
        return (*_outputs(session, show_uncited), chats, listing)

    return open_chat, restore, delete


HISTORY_KEY = "rag-papers-chats"  # the browser's localStorage key for past chats
STOPPED = "⏹ Stopped before the answer was finished; nothing of it was kept."


def stopped(question: str, session: ChatSession | None, show_uncited: bool):
    """After Stop: a note in place of the unfinished (unchecked) answer, and the
    question back in the box to edit or ask again."""
    session = session or ChatSession()
    interrupt(session)
    last = session.messages[-1] if session.messages else None
    if last is None or last["role"] != "user":  # the answer finished first
        return _outputs(session, show_uncited, question=question)
    session.messages = [*session.messages, _message(STOPPED)]
    return _outputs(session, show_uncited, question=question or session.pending)


def conversation(session: ChatSession | None) -> list[dict[str, Any]]:
    """The chat's messages as the session holds them (no answer being written)."""
    return session.messages if session else []


def streaming_controls(running: bool) -> tuple[gr.Button, gr.Button]:
    """(Ask, Stop): Stop shows only while an answer is being written."""
    return gr.Button(visible=not running), gr.Button(visible=running)


def new_chat(session: ChatSession | None, show_uncited: bool):
    interrupt(session)
    return _outputs(ChatSession(), show_uncited)


def export_enabled(session: ChatSession | None) -> gr.DownloadButton:
    """The export button, enabled only when there is something to export."""
    return gr.DownloadButton(interactive=bool(session and session.answers))


def rerender_sources(session: ChatSession | None, show_uncited: bool) -> str:
    session = session or ChatSession()
    return cards.cards_panel(session.answers, bool(show_uncited), session.evidence)


def build(engine: Engine, examples: Sequence[str]) -> ChatWidgets:
    """The chat column and the sources column, in the current layout context."""
    with gr.Row(equal_height=False, elem_classes="chat-layout"):
        with gr.Column(scale=3, min_width=300, elem_classes="chat-column"):
            size = gr.Markdown(library_size(engine.count()), elem_id="library-size")
            chips = filterchips.build()
            chatbot = gr.Chatbot(
                label="Chat",
                show_label=False,
                height="58vh",
                min_height=320,
                layout="panel",
                buttons=["copy", "copy_all"],
                feedback_options=None,
                latex_delimiters=[],  # "$" in abstracts is text, not maths
                sanitize_html=True,
                group_consecutive_messages=True,
                examples=[{"text": q} for q in examples],
                placeholder="**Ask about the papers in the library.** Answers cite their sources as [n]; "
                "click a marker to see the sentence it came from.",
                elem_id="chatbot",
            )
            with gr.Row(elem_classes="ask-row"):
                question = gr.Textbox(
                    label="Question",  # not shown: the name screen readers give the box
                    show_label=False,
                    placeholder="Ask about the papers…",
                    lines=1,
                    max_lines=6,
                    scale=5,
                    min_width=180,
                    elem_id="question",
                    submit_btn=False,
                )
                send = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask")
                stop = gr.Button(
                    "Stop", variant="stop", scale=1, min_width=70, visible=False, elem_id="stop"
                )
            with gr.Row(elem_classes="chat-actions"):
                new_chat_button = gr.Button("New chat", size="sm", elem_id="new-chat")
                export = gr.DownloadButton(
                    "Export chat (.md)", size="sm", interactive=False, elem_id="export"
                )
            with gr.Row(elem_classes="chat-history"):
                past = gr.Dropdown(
                    [],
                    value=None,
                    label="Past chats (kept in this browser)",
                    scale=4,
                    min_width=200,
                    elem_id="past-chats",
                )
                delete = gr.Button("Delete chat", size="sm", scale=1, elem_id="delete-chat")
            saved = gr.BrowserState([], storage_key=HISTORY_KEY)
        with gr.Column(scale=2, min_width=280, elem_classes="sources-column"):
            gr.Markdown("### Sources", elem_classes="sources-heading")
            sources = gr.HTML(cards.cards_panel([], False), elem_id="sources")
            with gr.Accordion("Answer as JSON", open=False, elem_classes="json-box"):
                answer_json = gr.JSON(show_label=False)
    session = gr.State(ChatSession())
    return ChatWidgets(
        chatbot,
        question,
        send,
        stop,
        new_chat_button,
        export,
        past,
        delete,
        size,
        saved,
        chips,
        sources,
        answer_json,
        session,
    )


def wire(
    demo: gr.Blocks, engine: Engine, chat: ChatWidgets, settings: settings_ui.SettingsWidgets
) -> None:
    """Connect the chat's events."""
    ask = make_ask(engine)
    inputs = [chat.question, chat.session, *settings.answer_inputs, settings.show_uncited]
    outputs = [
        chat.question,
        chat.chatbot,
        chat.sources,
        chat.session,
        chat.answer_json,
        chat.export,
    ]
    # Each event that changes the conversation then enables or disables the export
    # (a step of its own: the API endpoints keep returning the file path or None).
    export_step = {
        "fn": export_enabled,
        "inputs": chat.session,
        "outputs": chat.export,
        "api_visibility": "private",
        "queue": False,
    }
    controls = [chat.send, chat.stop]
    private = {"inputs": None, "outputs": controls, "api_visibility": "private", "queue": False}
    running = {"fn": lambda: streaming_controls(True), **private}
    done = {"fn": lambda: streaming_controls(False), **private}
    asking = [
        chat.send.click(**running).then(ask, inputs, outputs, api_name="ask"),
        chat.question.submit(**running).then(ask, inputs, outputs, api_visibility="private"),
    ]

    def pick_example(evt: gr.SelectData) -> str:
        return (evt.value or {}).get("text", "")

    asking.append(
        chat.chatbot.example_select(
            pick_example,
            None,
            chat.question,
            api_visibility="private",
            queue=False,
        )
        .then(**running)
        .then(ask, inputs, outputs, api_visibility="private")
    )
    # Every finished answer is stored in the browser's history of chats, outside the
    # queue so that a reload right after the answer rarely comes before the save.
    save_step = {"fn": save, "inputs": [chat.session, chat.saved], "outputs": [chat.saved, chat.past],
                 "api_visibility": "private", "queue": False}  # fmt: skip
    for event in asking:
        event.then(**done).then(**export_step).then(**save_step)
    # An update the cancelled handler sent just before it was stopped travels the
    # queue's event stream, while Stop and the other controls answer directly: under
    # load it can reach the browser after them and put the unfinished answer back. A
    # last redraw of the conversation through the queue arrives behind it.
    redraw = {"fn": conversation, "inputs": chat.session, "outputs": chat.chatbot,
              "api_visibility": "private"}  # fmt: skip
    # Stop cancels whichever ask is running; its handler puts the question back.
    chat.stop.click(
        stopped,
        [chat.question, chat.session, settings.show_uncited],
        outputs,
        cancels=asking,
        api_visibility="private",
        queue=False,
    ).then(**done).then(**export_step).then(**redraw)
    unselect = {"fn": lambda: gr.Dropdown(value=None), "inputs": None, "outputs": chat.past,
                "api_visibility": "private", "queue": False}  # fmt: skip
    # Leaving the chat (a new one, the trash button, another past chat) ends an answer
    # being written in it, as Stop does; deleting the open chat ends it at its next
    # word (the handler sees the session interrupted and closes the LLM request).
    leaving = [chat.session, settings.show_uncited]
    chat.new_chat.click(new_chat, leaving, outputs, api_name="new_chat", cancels=asking).then(
        **export_step
    ).then(**unselect).then(**redraw)
    # The chatbot's trash button clears the view; the conversation goes with it.
    chat.chatbot.clear(new_chat, leaving, outputs, api_visibility="private", cancels=asking).then(
        **export_step
    ).then(**unselect).then(**redraw)
    open_chat, restore, delete = make_history(engine)
    chat.past.input(
        open_chat,
        [chat.past, chat.saved, settings.show_uncited, chat.session],
        outputs,
        api_visibility="private",
        cancels=asking,
    ).then(**export_step).then(**redraw)
    chat.delete.click(
        delete,
        [chat.past, chat.saved, chat.session, settings.show_uncited],
        [*outputs, chat.saved, chat.past],
        api_visibility="private",
    ).then(**export_step)
    demo.load(
        restore, [chat.saved, chat.session, settings.show_uncited], [*outputs, chat.past],
        api_visibility="private",
    ).then(**export_step)  # fmt: skip
    filterchips.wire(chat.chips, settings)
    settings.show_uncited.change(
        rerender_sources,
        [chat.session, settings.show_uncited],
        chat.sources,
        api_visibility="private",
    )
