"""The LLM answerer's lean prompt and its failed-answer check, through the engine.

The reply tests talk to a real HTTP server on 127.0.0.1 speaking OpenAI's chat
completions wire format (streamed as server-sent events) with a reply the test
chooses: a real model cannot be made to give a marker-only or a copied reply on
demand, and the engine must catch each kind whatever model gives it.
"""

from __future__ import annotations

import json
import re

import pytest
from llama_server import http_server

from rag.answer.generative import GenerativeAnswerer
from rag.answer.prompts import (
    EVIDENCE_WORDS,
    MAX_SENTENCE_WORDS,
    SYSTEM_PROMPT,
    USER_TEMPLATE,
    build_messages,
)
from rag.config import Config
from rag.engine import Engine

QUESTION = "How much memory does post-training quantization of vision-language models save?"


class _Unused:
    name = "unused"  # prompts are only built here, never sent


def source_texts(user_message: str) -> dict[int, str]:
    blocks = re.findall(r'<source n="(\d+)">(.*?)</source>', user_message, flags=re.S)
    return {int(n): body.split("Text:", 1)[1].strip() for n, body in blocks}


def test_lean_prompt_carries_the_sentences_closest_to_the_question(engine, embedder):
    hits = engine.retrieve(QUESTION).hits
    answerer = GenerativeAnswerer(_Unused(), embedder.embed_one, engine.sentence_lookup())
    (_, system), (_, lean) = answerer.prompt(QUESTION, hits)
    (_, whole) = build_messages(QUESTION, hits)[1]
    assert system == SYSTEM_PROMPT
    assert len(lean) < len(whole) / 2

    excerpts = source_texts(lean)
    assert sorted(excerpts) == list(range(1, len(hits) + 1))
    q = embedder.embed_one(QUESTION)
    lookup = engine.sentence_lookup()([h.paper.paper_id for h in hits])
    words = 0
    for n, hit in enumerate(hits, start=1):
        texts, vectors = lookup[hit.paper.paper_id]
        closest = max(range(1, len(texts)), key=lambda j: float(vectors[j] @ q))
        start = " ".join(texts[closest].split()[:MAX_SENTENCE_WORDS])
        assert start in excerpts[n]  # every paper shows its closest sentence
        for part in excerpts[n].split("\u2026"):
            assert " ".join(part.split()) in " ".join(hit.paper.abstract.split())
        words += len(excerpts[n].replace("\u2026", " ").split())
    # the budget, plus the closest sentence of each paper, which is always shown
    assert words <= EVIDENCE_WORDS + len(hits) * MAX_SENTENCE_WORDS


def test_prompts_hold_no_example_answer_to_copy():
    for text in (SYSTEM_PROMPT, USER_TEMPLATE):
        # an example claim is words followed by a marker and a full stop
        assert not re.search(r"[a-z]{3,}[^.\n]*\[\d+(?:,\s*\d+)*\]\.", text)


def openai_replying(text: str):
    """An OpenAI-compatible chat completions endpoint that always replies `text`."""

    def handle(request):
        payload = json.loads(request.body or b"{}")
        if not payload.get("stream"):
            message = {"role": "assistant", "content": text}
            body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip
            return 200, "application/json", json.dumps(body)
        events = []
        for piece in re.findall(r"\S+\s*", text) + [None]:
            delta = {"role": "assistant", "content": piece} if piece else {}
            choice = {"index": 0, "delta": delta, "finish_reason": None if piece else "stop"}
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [choice]}  # fmt: skip
            events.append(f"data: {json.dumps(chunk)}\n\n")
        return 200, "text/event-stream", "".join(events) + "data: [DONE]\n\n"

    return handle


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("[1] [2]", "was only citation markers"),
        ("[1]", "was only citation markers"),
        ("Post-training quantization [1] [1] [1] [1] [1] [1]", "was mostly citation markers"),
        (
            "I cannot answer this from the papers in the library.",
            "refused although the sources bear on the question",
        ),  # fmt: skip
        (
            "Use only facts the sources state, never your own knowledge [1].",
            "repeated its instructions",
        ),  # fmt: skip
        ("Quantization saves memory [7].", "cited none of the sources"),
        ("Quantization saves memory.", "cited none of the sources"),
    ],
)
def test_a_reply_that_is_no_answer_falls_back_to_the_extractive_answer(
    library_store, embedder, engine, reply, reason
):
    answer = ask_with_reply(library_store, embedder, reply)
    assert answer.backend == "extractive (fallback from openai)"
    assert any(reason in w and "openai:m" in w for w in answer.warnings), answer.warnings
    assert answer.text == engine.ask(QUESTION, llm="extractive").text


def test_a_cited_reply_is_kept(library_store, embedder, engine):
    top = engine.retrieve(QUESTION).hits[0].paper
    sentence = top.abstract.split(". ")[1].rstrip(".")
    answer = ask_with_reply(library_store, embedder, f"{sentence} [1].")
    assert answer.backend == "openai:m"
    assert not any("extractive backend" in w for w in answer.warnings)
    assert answer.text.startswith(sentence)
    assert [c.paper for c in answer.citations] == [top]


def ask_with_reply(library_store, embedder, reply: str, question: str = QUESTION):
    with http_server(openai_replying(reply)) as root:
        config = Config.from_env(
            {}, store=library_store, llm="openai", llm_base_url=root + "/v1", llm_model="m"
        )
        return Engine(config, embedder=embedder).ask(question)


def test_a_refusal_of_a_question_the_library_cannot_answer_is_kept(library_store, embedder):
    question = "Which sourdough starters ferment fastest in a cold kitchen?"
    answer = ask_with_reply(
        library_store, embedder, "I cannot answer this from the papers in the library.", question
    )
    assert answer.backend == "openai:m" and answer.refused
    assert not any("extractive backend" in w for w in answer.warnings)


def test_a_refusal_of_a_question_about_named_papers_is_replaced(library_store, embedder):
    refusal = "I cannot answer this from the papers in the library."
    answer = ask_with_reply(library_store, embedder, refusal, "papers by Sam Buchanan")
    assert answer.backend == "extractive (fallback from openai)"
    assert any("refused a question about the papers the user named" in w for w in answer.warnings)
    assert not answer.refused and answer.citations
    assert all("Sam Buchanan" in c.paper.authors for c in answer.citations)
