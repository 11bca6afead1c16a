"""Follow-up questions: detection, the rule path, and condensing with the real model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import llama_server as server_fixtures
from llama_server import free_port

from rag.answer.followup import Turn, carry_papers, condense, format_history
from rag.config import Config
from rag.llms import get_chat_model
from rag.llms.base import Message

gguf_path = server_fixtures.gguf_path
llama_server = server_fixtures.llama_server

IBP_TURN = Turn(
    question="Which paper shortens the warmup of certified training?",
    answer="Fast Certified Robust Training shortens the IBP warmup [1].",
    paper_ids=("p_ibp", "p_crown"),
    titles=("Fast Certified Robust Training with Short Warmup", "CROWN-IBP"),
)
QVLM_TURN = Turn(
    question="Which paper quantizes vision-language models?",
    answer="Q-VLM does [1].",
    paper_ids=("p_qvlm",),
    titles=("Q-VLM: Post-training Quantization for Large Vision-Language Models",),
)
NO_PAPERS_TURN = Turn("Hello?", "I cannot answer this from the papers in the library.", (), ())


class FixedReply:
    """A ChatModel that always replies the same text: for the reply-cleaning paths."""

    name = "fixed"

    def __init__(self, reply: str) -> None:
        self.reply = reply

    def chat(self, messages: Sequence[Message]) -> str:
        return self.reply

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        yield self.reply


def test_rule_path_names_the_latest_turns_first_paper():
    history = [IBP_TURN, QVLM_TURN]
    assert (
        condense("What dataset did it  use?", history)
        == "What dataset did it use? (regarding: Q-VLM: Post-training Quantization for Large "
        "Vision-Language Models)"
    )
    # the latest turn cited nothing: the most recent turn that did is the subject
    assert condense("Who are the authors?", [IBP_TURN, NO_PAPERS_TURN]).endswith(
        "(regarding: Fast Certified Robust Training with Short Warmup)"
    )
    assert condense("Why is that?", [NO_PAPERS_TURN]) == "Why is that? (regarding: Hello?)"


def test_standalone_questions_and_first_questions_are_unchanged():
    assert condense("What is IBP?", [IBP_TURN]) == "What is IBP?"
    assert condense("What dataset did it use?", []) == "What dataset did it use?"


def test_carry_papers_only_for_follow_ups():
    assert carry_papers("Who are the authors?", [IBP_TURN]) == ("p_ibp", "p_crown")
    assert carry_papers("Who are the authors?", [IBP_TURN, NO_PAPERS_TURN]) == ("p_ibp", "p_crown")
    assert carry_papers("What is IBP?", [IBP_TURN]) == ()
    assert carry_papers("Who are the authors?", []) == ()


def test_history_shows_recent_turns_shortened():
    long_turn = Turn("Q?", "word " * 200, ("p",), ("Title",))
    text = format_history([IBP_TURN, QVLM_TURN, NO_PAPERS_TURN, long_turn])
    assert IBP_TURN.question not in text  # only the last three turns
    assert "Papers discussed: Title" in text and "…" in text
    assert len(text) < 1000


def test_condense_with_the_real_model_returns_one_line(llama_server):
    config = Config.from_env(
        {},
        llm="openai",
        llm_base_url=llama_server.base_url,
        llm_model=llama_server.model,
        llm_max_tokens=48,
        llm_timeout=server_fixtures.SLOW_MACHINE_TIMEOUT,
    )
    standalone = condense("What dataset did it use?", [IBP_TURN], get_chat_model(config))
    assert isinstance(standalone, str) and standalone.strip() == standalone and standalone
    assert "\n" not in standalone


def test_condense_falls_back_to_the_rule_path_on_llm_error():
    down = Config.from_env({}, llm="openai", llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    model = get_chat_model(down)
    question = "What dataset did it use?"
    assert condense(question, [IBP_TURN], model) == condense(question, [IBP_TURN])


def test_condense_cleans_or_rejects_the_models_reply():
    history = [IBP_TURN]
    question = "What dataset did it use?"
    labelled = FixedReply('Standalone question: "Which dataset did Fast Certified Training use?"\n')
    assert condense(question, history, labelled) == "Which dataset did Fast Certified Training use?"
    echo = "Rewrite the follow-up question so that it can be understood."
    for useless in ("", "  \n ", "x" * 1000 + "?", echo):
        assert condense(question, history, FixedReply(useless)) == condense(question, history)
