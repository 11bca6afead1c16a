"""The chat tab: questions stream into answers whose [n] markers link to source cards.

Each browser session keeps its own ChatSession in a gr.State: the chat messages,
every answer (for its cards and the export) and the Turn history the engine uses
to read follow-up questions. The engine itself is shared and only read here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from rag.answer.followup import Turn
from rag.engine import Engine
from rag.errors import RagError
from rag.export import answer_to_markdown
from rag.types import Answer, Paper

from . import cards, scratch
from . import settings as settings_ui

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
    history: list[Turn] = field(default_factory=list)


@dataclass
class ChatWidgets:
    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    new_chat: gr.Button
    export: gr.DownloadButton
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


def turn_for(answer: Answer) -> Turn:
    """What a follow-up question needs to know about an answer."""
    return Turn(
        question=answer.question,
        answer=answer.text,
        paper_ids=tuple(c.paper.paper_id for c in answer.citations),
        titles=tuple(c.paper.title for c in answer.citations),
    )


def export_file(answer: Answer) -> str:
    """Write the answer's Markdown export to a fresh scratch folder; returns its path."""
    slug = re.sub(r"[^a-z0-9]+", "-", answer.question.lower()).strip("-")[:48] or "answer"
    folder = scratch.new_folder("export-")
    path = folder / f"answer-{slug}.md"
    path.write_text(answer_to_markdown(answer), encoding="utf-8")
    return str(path)


def _message(content: str, role: str = "assistant") -> dict[str, Any]:
    return {"role": role, "content": content}


def _outputs(
    session: ChatSession, show_uncited: bool, answer: Answer | None = None, question: str = ""
):
    """Values for (question, chatbot, sources, session, answer_json, export). The
    export becomes the new answer's Markdown file; otherwise it keeps the last one."""
    if answer is not None:
        export: Any = export_file(answer)
    else:
        export = gr.skip() if session.answers else None
    return (
        question,
        session.messages,
        cards.cards_panel(session.answers, bool(show_uncited)),
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
        show_uncited: bool,
    ) -> Iterator[tuple]:
        session = session or ChatSession()
        question = (question or "").strip()
        if not question:
            yield _outputs(session, show_uncited)
            return
        session.messages = [*session.messages, _message(cards.streaming_markdown(question), "user")]
        try:
            options = settings_ui.read(backend, top_k, authors, since, until, categories)
            events = engine.ask_stream(question, history=list(session.history), **options)
            text = ""
            answer: Answer | None = None
            for event in events:
                if isinstance(event, Answer):
                    answer = event
                    break
                text += event
                streaming = [*session.messages, _message(cards.streaming_markdown(text) + " ▌")]
                yield ("", streaming, gr.skip(), gr.skip(), gr.skip(), gr.skip())
        except RagError as exc:  # say what to fix; the question stays in the box
            session.messages = [*session.messages, _message(f"⚠ {cards.esc(exc)}")]
            yield _outputs(session, show_uncited, question=question)
            return
        assert answer is not None
        prefix = uuid.uuid4().hex[:8]
        session.messages = [
            *session.messages,
            _message(cards.answer_markdown(answer.text, prefix, cards.linkable_numbers(answer))),
            _message(cards.answer_notes_html(answer)),
        ]
        session.answers = [*session.answers, (prefix, answer)]
        session.history = [*session.history, turn_for(answer)]
        yield _outputs(session, show_uncited, answer=answer)

    return ask


def new_chat(show_uncited: bool):
    session = ChatSession()
    return _outputs(session, show_uncited)


def rerender_sources(session: ChatSession | None, show_uncited: bool) -> str:
    return cards.cards_panel((session or ChatSession()).answers, bool(show_uncited))


def build(engine: Engine, examples: Sequence[str]) -> ChatWidgets:
    """The chat column and the sources column, in the current layout context."""
    with gr.Row(equal_height=False, elem_classes="chat-layout"):
        with gr.Column(scale=3, min_width=300, elem_classes="chat-column"):
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
            with gr.Row(elem_classes="chat-actions"):
                new_chat_button = gr.Button("New chat", size="sm", elem_id="new-chat")
                export = gr.DownloadButton("Export answer (.md)", size="sm", elem_id="export")
        with gr.Column(scale=2, min_width=280, elem_classes="sources-column"):
            gr.Markdown("### Sources", elem_classes="sources-heading")
            sources = gr.HTML(cards.cards_panel([], False), elem_id="sources")
            with gr.Accordion("Answer as JSON", open=False, elem_classes="json-box"):
                answer_json = gr.JSON(show_label=False)
    session = gr.State(ChatSession())
    return ChatWidgets(
        chatbot, question, send, new_chat_button, export, sources, answer_json, session
    )


def wire(engine: Engine, chat: ChatWidgets, settings: settings_ui.SettingsWidgets) -> None:
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
    chat.send.click(ask, inputs, outputs, api_name="ask")
    chat.question.submit(ask, inputs, outputs, api_visibility="private")

    def pick_example(evt: gr.SelectData) -> str:
        return (evt.value or {}).get("text", "")

    chat.chatbot.example_select(
        pick_example,
        None,
        chat.question,
        api_visibility="private",
        queue=False,
    ).then(ask, inputs, outputs, api_visibility="private")
    chat.new_chat.click(new_chat, [settings.show_uncited], outputs, api_name="new_chat")
    settings.show_uncited.change(
        rerender_sources,
        [chat.session, settings.show_uncited],
        chat.sources,
        api_visibility="private",
    )
