"""The library as LlamaIndex components (rag/llama.py), and README's example, run
offline with no API key: nothing may reach LlamaIndex's global Settings (OpenAI)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

from conftest import ROOT
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response, StreamingResponse
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers import BaseSynthesizer
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.answer.prompts import CANNOT_ANSWER


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- llamaindex-example -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "README has no LlamaIndex example block"
    return match.group(1)


def test_readme_llamaindex_example_runs_offline_without_settings(library_store, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(
        readme_example()
        + "\nfrom llama_index.core import Settings\n"
        + "assert Settings._llm is None and Settings._embed_model is None, 'Settings was used'\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(RAG_STORE=str(library_store), HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert "Generalizable Data-free Objective for Crafting Universal Adversarial" in lines[0]
    assert any(re.match(r"\[1\] .+: .+", line) for line in lines), run.stdout


def test_retriever_gives_one_node_per_paper_with_its_metadata(engine):
    nodes = engine.as_retriever(top_k=4).retrieve("universal adversarial perturbations")
    assert len(nodes) == 4 and all(isinstance(n, NodeWithScore) for n in nodes)
    ids = [n.node.node_id for n in nodes]
    assert len(set(ids)) == 4 and all(i.startswith("p_") for i in ids)
    catalog = {p.paper_id: p for p in engine.papers()}
    for n in nodes:
        assert n.node.metadata["title"] == catalog[n.node.node_id].title
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)


def test_query_engine_response_carries_citations_and_refusals(engine):
    qe = engine.as_query_engine()
    response = qe.query("What does sharpness-aware minimization minimize?")
    assert isinstance(response, Response) and not response.metadata["refused"]
    cited = response.metadata["citations"]
    assert cited and all(c["snippet"] and c["support"] is not None for c in cited)
    assert {c["paper_id"] for c in cited} <= {n.node.node_id for n in response.source_nodes}
    refused = qe.query("What did the Zorblax-9 model score on WikiText-103?")
    assert refused.metadata["refused"] and refused.response.startswith(CANNOT_ANSWER)


def test_chat_engine_answers_a_follow_up_from_the_previous_papers(engine):
    chat = engine.as_chat_engine()
    first = chat.chat("Which paper introduces white-box transformers via sparse rate reduction?")
    follow = chat.chat("What did they find?")
    previous = {c["paper_id"] for c in first.metadata["citations"]}
    assert previous and {c["paper_id"] for c in follow.metadata["citations"]} <= previous
    assert follow.response != first.response
    assert [m.role.value for m in chat.chat_history] == ["user", "assistant"] * 2
    # stream_chat streams the words as written; the checked answer and its papers
    # are there once the stream ends.
    streamed = chat.stream_chat("What did they find?")
    assert streamed.source_nodes == [] and streamed.response == ""
    deltas = list(streamed.response_gen)
    assert len(deltas) > 1 and "".join(deltas).strip() == streamed.response == str(streamed)
    cited = {c["paper_id"] for c in streamed.metadata["citations"]}
    assert cited and cited <= {n.node.node_id for n in streamed.source_nodes}
    assert len(chat.chat_history) == 6
    whole = chat.stream_chat("What did they find?")
    assert str(whole) == whole.response and whole.response  # read without streaming
    chat.reset()
    assert chat.chat_history == []


def test_chat_engine_streams_asynchronously(engine):
    chat = engine.as_chat_engine()

    async def ask():
        streamed = await chat.astream_chat(
            "Which method crafts universal perturbations without data?"
        )
        return streamed, [d async for d in streamed.async_response_gen()]

    streamed, deltas = asyncio.run(ask())
    assert len(deltas) > 1 and "".join(deltas).strip() == streamed.response
    assert streamed.metadata["citations"] and streamed.source_nodes
    assert [m.role.value for m in chat.chat_history] == ["user", "assistant"]


class DropFirst(BaseNodePostprocessor):
    """A user's postprocessor: leaves out the best node."""

    def _postprocess_nodes(self, nodes, query_bundle=None):
        return nodes[1:]


def test_query_engine_is_the_retriever_then_the_synthesizer(engine):
    qe = engine.as_query_engine(top_k=3)
    assert isinstance(qe, RetrieverQueryEngine)
    assert isinstance(qe.retriever, BaseRetriever)
    assert isinstance(qe.synthesizer, BaseSynthesizer)
    question = "Which method crafts universal adversarial perturbations without data?"
    best = qe.retrieve(QueryBundle(question))[0].node.node_id
    full = qe.query(question)
    assert best in {c["paper_id"] for c in full.metadata["citations"]}
    # A postprocessor between the stages decides what the answer may cite.
    dropped = engine.as_query_engine(top_k=3, node_postprocessors=[DropFirst()]).query(question)
    assert best not in {n.node.node_id for n in dropped.source_nodes}
    assert best not in {c["paper_id"] for c in dropped.metadata["citations"]}


def test_synthesizer_answers_in_someone_elses_pipeline(engine):
    question = "What does sharpness-aware minimization minimize?"
    pipeline = RetrieverQueryEngine(
        retriever=engine.as_retriever(), response_synthesizer=engine.as_synthesizer()
    )
    response = pipeline.query(question)  # a plain QueryBundle: the synthesizer plans it
    answer = engine.ask(question)
    assert response.response == answer.text
    assert response.metadata["answer"].citations == answer.citations


def test_synthesizer_reads_chunk_nodes_as_their_papers_and_skips_others(engine):
    paper = next(p for p in engine.papers() if "Sharpness-Aware Minimization" in p.title)
    chunk = TextNode(text=paper.abstract[:200], metadata={"paper_id": paper.paper_id})
    foreign = TextNode(text="Sharpness-aware minimization minimizes the loss of a cat.")
    response = engine.as_synthesizer().synthesize(
        "What does sharpness-aware minimization minimize?",
        [NodeWithScore(node=foreign, score=0.9), NodeWithScore(node=chunk, score=0.5)],
    )
    assert [n.node.node_id for n in response.source_nodes] == [paper.paper_id]
    assert {c["paper_id"] for c in response.metadata["citations"]} == {paper.paper_id}


def test_streaming_query_engine_streams_the_same_answer(engine):
    question = "What does sharpness-aware minimization minimize?"
    streamed = engine.as_query_engine(streaming=True).query(question)
    assert isinstance(streamed, StreamingResponse)
    text = "".join(streamed.response_gen)
    answer = streamed.metadata["answer"]
    assert text.strip() and answer.text == engine.ask(question).text
    assert [n.node.node_id for n in streamed.source_nodes] == [
        h.paper.paper_id for h in answer.hits
    ]


def test_sentence_rerank_postprocessor_reorders_another_first_stage(engine):
    question = "How do deep network predictions behave under extreme distribution shift?"
    target = "Deep Neural Networks Tend To Extrapolate Predictably"
    keyword_only = engine.as_retriever(top_k=10, mode="bm25").retrieve(question)
    titles = [n.node.metadata["title"] for n in keyword_only]
    assert target in titles[1:], titles  # BM25 alone puts another paper first
    foreign = NodeWithScore(node=TextNode(text="Not a library paper."), score=99.0)
    ranked = engine.as_reranker(top_n=6).postprocess_nodes(
        [*keyword_only[:8], foreign], query_str=question
    )
    assert ranked[0].node.metadata["title"] == target
    assert len(ranked) == 6 and foreign not in ranked
    scores = [n.score for n in ranked]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    # Nodes of anything else follow the library's papers, as they came.
    assert (
        engine.as_reranker().postprocess_nodes([foreign, *keyword_only[:2]], query_str=question)[-1]
        is foreign
    )
