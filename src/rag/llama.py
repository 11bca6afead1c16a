"""The ask path, as LlamaIndex components: what `rag ask`, the chat UI, the MCP tools
and the eval runner run, and what someone else's LlamaIndex pipeline can reuse.

    question --PaperRetriever--> one NodeWithScore per paper (hybrid, fused, reranked)
             --[node postprocessors]--> the nodes the answer may cite
    LibraryRerank: the retriever's second stage, as a postprocessor for a pipeline
                   whose first stage is someone else's
             --CitedSynthesizer--> Response: the cited, checked answer
    CitedQueryEngine = RetrieverQueryEngine(PaperRetriever, CitedSynthesizer)
    CitedChatEngine: a follow-up condensed against the earlier turns, then the query
                     engine, answered from the papers it refers to

    retriever = engine.as_retriever(top_k=3)        # a BaseRetriever
    query_engine = engine.as_query_engine()         # a RetrieverQueryEngine
    chat_engine = engine.as_chat_engine()           # a BaseChatEngine

A paper is a `TextNode` whose id is the paper id and whose metadata holds its title,
authors, year and link (and, hidden from embeddings and LLM prompts, the retrieval
stages' scores). A `Response`'s metadata carries what the product shows: the
citations with their supporting sentences and support scores, the warnings, the
refusal flag, the answerer's evidence, and the whole `rag.Answer` under "answer".

Each stage reads what it needs from the query: a `LibraryQuery` is LlamaIndex's
`QueryBundle` with the explicit filters, the follow-up's papers and, once the
retriever has run, its `Retrieval` (the question's plan and the filter notes). A
plain `QueryBundle` or string works too: the synthesizer then plans the question
itself and answers from the library papers among the nodes it is given (paper nodes,
or chunk nodes of `engine.store.vector_store()`, which name their paper).

Nothing here reads LlamaIndex's global `Settings` (which would mean OpenAI): the
engine's own embedder and answer backend are used, and an LLM is always passed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import Response, StreamingResponse
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers import BaseSynthesizer
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode

from .answer.citations import WEAK_SUPPORT, CheckedAnswer, check_citations, is_refusal
from .answer.followup import FollowUp, Turn, carry_papers, condense
from .answer.generative import failure
from .errors import InputError, LLMError
from .retrieval import Candidate
from .types import Answer, Filters, Hit, Paper

if TYPE_CHECKING:
    from .engine import Engine, Retrieval

Event = str | Answer  # a streamed answer: text pieces, then the checked Answer

_HIDDEN = ["paper_id", "link", "scores", "names_topic"]  # not embedded, not prompted


# ------------------------------------------------------------------ nodes
def paper_node(paper: Paper, hit: Hit | None = None) -> TextNode:
    """A paper as a LlamaIndex node: title and abstract as text, the rest as metadata.

    >>> paper_node(Paper.create("A Title", "An abstract.", year=2024)).metadata["year"]
    2024
    """
    metadata: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "authors": ", ".join(paper.authors),
        "year": paper.year,
        "link": paper.link,
    }
    if hit is not None:  # what the answerer reads of retrieval: its stages' scores
        metadata["scores"] = dict(hit.scores)
        metadata["names_topic"] = hit.names_topic
    return TextNode(
        id_=paper.paper_id,
        text=paper.text,
        metadata={k: v for k, v in metadata.items() if v not in (None, "")},
        excluded_embed_metadata_keys=_HIDDEN,
        excluded_llm_metadata_keys=_HIDDEN,
    )


def hit_nodes(hits: Sequence[Hit]) -> list[NodeWithScore]:
    return [NodeWithScore(node=paper_node(h.paper, h), score=h.score) for h in hits]


def node_hits(nodes: Sequence[NodeWithScore], engine: Engine) -> list[Hit]:
    """The library papers among the nodes, as hits, in the nodes' order (one per paper).

    A paper node gives back the hit it was made from; a chunk node of the library's
    vector store names its paper in its metadata. Nodes of anything else are left out.
    """
    hits: dict[str, Hit] = {}
    for scored in nodes:
        node: BaseNode = scored.node
        paper = node_paper(node, engine)
        if paper is None or paper.paper_id in hits:
            continue
        score = scored.score if scored.score is not None else 0.0
        hits[paper.paper_id] = Hit(
            paper=paper,
            score=score,
            text=node.get_content(),
            scores=dict(node.metadata.get("scores") or {}),
            names_topic=bool(node.metadata.get("names_topic")),
        )
    return list(hits.values())


def node_paper(node: BaseNode, engine: Engine) -> Paper | None:
    """The library paper a node is (a paper node) or is part of (a chunk node naming its
    paper in its metadata), or None."""
    return engine.paper(node.node_id) or engine.paper(str(node.metadata.get("paper_id")))


def answer_metadata(answer: Answer) -> dict[str, Any]:
    """A Response's metadata: the product's answer fields, and the Answer itself."""
    data = answer.to_json()
    metadata = {
        k: data[k] for k in ("citations", "refused", "warnings", "notes", "backend", "evidence")
    }
    return {**metadata, "answer": answer}


def answer_response(answer: Answer) -> Response:
    """An Answer as a LlamaIndex Response: the papers as source nodes."""
    return Response(
        response=answer.text, source_nodes=hit_nodes(answer.hits), metadata=answer_metadata(answer)
    )


# ------------------------------------------------------------------ the query
@dataclass
class LibraryQuery(QueryBundle):
    """A question for the library's stages: the text searched (`query_str`), and what
    else they read. The retriever fills in `retrieval`."""

    top_k: int | None = None
    filters: Filters | None = None
    mode: str | None = None  # retriever mode; None means the configured one
    prefer: tuple[str, ...] = ()  # a follow-up's papers, searched first
    asked: str | None = None  # the question as the user asked it, when condensed
    turn: FollowUp | None = None  # a follow-up: answered without repeating the last answer
    # perf_counter at the question's arrival: the answer's latency counts from here
    started: float = field(default_factory=time.perf_counter)
    retrieval: Retrieval | None = None


def library_query(query: str | QueryBundle) -> LibraryQuery:
    if isinstance(query, LibraryQuery):
        return query
    return LibraryQuery(query.query_str if isinstance(query, QueryBundle) else query)


# ------------------------------------------------------------------ stages
class PaperRetriever(BaseRetriever):
    """Hybrid retrieval (dense from Chroma + BM25, fused by reciprocal rank, grouped by
    paper, reranked on sentences), one node per paper, within the filters."""

    def __init__(
        self,
        engine: Engine,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__()
        self._engine, self._top_k, self._filters, self._mode = engine, top_k, filters, mode

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle if isinstance(query_bundle, LibraryQuery) else None
        retrieval = self._engine.retrieve(
            query_bundle.query_str,
            (query and query.top_k) or self._top_k,
            (query and query.filters) or self._filters,
            (query and query.mode) or self._mode,
            query.prefer if query else (),
        )
        if query is not None:
            query.retrieval = retrieval
        return hit_nodes(retrieval.hits)


class CitedSynthesizer(BaseSynthesizer):
    """The answer from the nodes: the configured backend's (the extractive answerer
    offline, or an LLM's), its citations checked against the cited papers' sentences.

    An LLM answer that is no answer (only markers, the prompt's own words, a refusal
    the sources contradict, claims no cited sentence supports) or a failed request is
    replaced by the extractive answer, with a warning saying why.
    """

    def __init__(self, engine: Engine, llm: str | None = None, streaming: bool = False) -> None:
        # BaseSynthesizer.__init__ would resolve Settings.llm (OpenAI): not called.
        self._engine = engine
        self._backend = llm
        self._streaming = streaming
        self._callback_manager = CallbackManager([])
        self._llm = None
        self._output_cls = None
        self._empty_response = "The library has no papers for this question."
        self._multimodal = False

    def _get_prompts(self) -> dict[str, Any]:
        return {}

    def _update_prompts(self, prompts: dict[str, Any]) -> None:
        pass

    def synthesize(
        self,
        query: str | QueryBundle,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> Response | StreamingResponse:
        query = library_query(query)
        events = self.events(query, nodes)  # a generator
        if not self._streaming:
            return answer_response(_final(events))
        response = StreamingResponse(response_gen=iter(()), source_nodes=list(nodes), metadata={})

        def pieces() -> Iterator[str]:
            with contextlib.closing(events):  # a stopped stream stops its LLM request
                for event in events:
                    if isinstance(event, Answer):
                        response.metadata = answer_metadata(event)
                        response.source_nodes = hit_nodes(event.hits)
                    else:
                        yield event

        response.response_gen = pieces()
        return response

    async def asynthesize(
        self,
        query: str | QueryBundle,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> Response | StreamingResponse:
        return self.synthesize(query, nodes, additional_source_nodes, **response_kwargs)

    def get_response(self, query_str: str, text_chunks: Sequence[str], **kwargs: Any) -> str:
        """LlamaIndex's text-only entry point: answers from the library papers whose
        text the chunks are (others cannot be cited sentence by sentence)."""
        nodes = [NodeWithScore(node=TextNode(text=t), score=None) for t in text_chunks]
        return str(self.synthesize(query_str, nodes).response)

    async def aget_response(self, query_str: str, text_chunks: Sequence[str], **kwargs: Any) -> str:
        return self.get_response(query_str, text_chunks, **kwargs)

    # ------------------------------------------------------------------ events
    def events(self, query: LibraryQuery, nodes: Sequence[NodeWithScore]) -> Iterator[Event]:
        """The answer's text pieces as they are written, then the checked Answer."""
        engine = self._engine
        retrieval = self._retrieval(query, nodes)
        hits = retrieval.hits
        backend = self._backend or engine.config.llm
        chat_model, warnings = engine.chat_model(backend)
        answerer, label = engine.answerer(chat_model)
        if chat_model is None and backend != "extractive":
            label = f"extractive (fallback from {backend})"
        standalone, turn = query.query_str, query.turn
        lookup = engine.sentence_lookup()
        pieces: list[str] = []
        fallback = ""  # why the configured backend's answer was not used
        checked: CheckedAnswer | None = None
        try:
            for piece in answerer.respond(standalone, retrieval, turn):
                pieces.append(piece)
                yield piece
        except LLMError as exc:
            fallback = str(exc)
        if not fallback and not answerer.grounded:
            # A reply that is no answer (only markers, the prompt's words, citing no
            # source) is replaced, as a failed request is.
            text = "".join(pieces)
            reason = failure(text, len(hits)) or self._refused_wrongly(text, retrieval)
            if not reason:
                checked = check_citations(text, hits, engine.embedder.embed_queries, lookup)
                reason = _unsupported(checked)
            fallback = f"the {answerer.name} answer {reason}" if reason else ""
        if fallback:
            warnings.append(f"{fallback}; answered with the extractive backend instead")
            answerer, _ = engine.answerer(None)
            label = f"extractive (fallback from {backend})"
            if pieces:
                yield "\n\n"
            pieces = []
            for piece in answerer.respond(standalone, retrieval, turn):
                pieces.append(piece)
                yield piece
        if checked is None or fallback:  # a kept LLM answer was checked above
            checked = check_citations("".join(pieces), hits, engine.embedder.embed_queries, lookup)
        asked = query.asked or query.query_str
        yield Answer(
            question=asked,
            text=checked.text,
            refused=checked.refused,
            citations=checked.citations,
            hits=tuple(hits),
            backend=label,
            latency_s=time.perf_counter() - query.started,
            warnings=tuple(warnings + list(checked.warnings)),
            notes=tuple(retrieval.notes),
            standalone_question=standalone if standalone != asked else None,
            evidence=answerer.evidence(),
        )

    def _retrieval(self, query: LibraryQuery, nodes: Sequence[NodeWithScore]) -> Retrieval:
        """What retrieval did, with the hits the nodes left (a postprocessor may have
        reordered or dropped some): the retriever's, or planned here for other nodes."""
        hits = node_hits(nodes, self._engine)
        if query.retrieval is not None:
            return replace(query.retrieval, hits=hits)
        from .engine import Retrieval

        plan = self._engine.plan(query.query_str, query.filters)
        listing = bool(hits) and all("listed" in h.scores for h in hits)
        return Retrieval(hits, plan, 0.0, listing=listing)

    def _refused_wrongly(self, text: str, retrieval: Retrieval) -> str:
        """Why a model's refusal is not accepted, or "": the sources bear on the
        question when the user named the papers (an author's) or the refusal model
        (the extractive answerer's evidence) finds the question answerable from them.
        Small models refuse far too readily."""
        if not is_refusal(text) or not retrieval.hits:
            return ""
        if retrieval.listing or retrieval.plan.about_people:
            return "refused a question about the papers the user named"
        extractive = self._engine.extractive_answerer()
        plan, hits = retrieval.plan, retrieval.hits
        p = extractive.assess(plan, hits, extractive.best_sentences(plan, hits)).p_answerable
        if p is not None and p >= self._engine.tuning.refuse_below:
            return f"refused although the sources bear on the question (p_answerable {p:.2f})"
        return ""


def _unsupported(checked: CheckedAnswer) -> str:
    """Why a model's answer is not accepted, or "": none of its cited claims is
    supported by a sentence of the paper it cites (an answer from the model's
    memory, with a marker added)."""
    supports = [c.support for c in checked.citations if c.support is not None]
    if not checked.refused and supports and max(supports) < WEAK_SUPPORT:
        return "has no claim that a sentence of its cited papers supports"
    return ""


def _final(events: Iterator[Event]) -> Answer:
    answer = None
    for event in events:
        if isinstance(event, Answer):
            answer = event
    assert answer is not None
    return answer


class LibraryRerank(BaseNodePostprocessor):
    """The library's second stage as a node postprocessor, for a pipeline whose first
    stage is someone else's (a vector index over `engine.store.vector_store()`, a plain
    BM25 retriever): library papers among the nodes (paper nodes, or chunk nodes naming
    their paper) are scored as the library's retriever scores its candidates
    (retrieval.Reranker: the question's best sentence cosines, IDF-weighted keyword and
    number coverage and their incoming rank; or the cross-encoder, when one is
    configured), best first, one node per paper; at most `top_n`. Other nodes follow,
    as they came. The library's own retriever runs the same stage inside its
    feedback round."""

    top_n: int | None = None
    _engine: Any = PrivateAttr()

    def __init__(self, engine: Engine, top_n: int | None = None) -> None:
        super().__init__(top_n=top_n)
        self._engine = engine

    @classmethod
    def class_name(cls) -> str:
        return "LibraryRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise InputError("LibraryRerank needs the question: pass query_bundle or query_str")
        hits = node_hits(nodes, self._engine)
        retriever = self._engine.snapshot.retriever
        if not hits or retriever is None:
            return nodes[: self.top_n]
        candidates = [
            Candidate(h.paper.paper_id, "", h.text, h.score, {"fused": h.score}) for h in hits
        ]
        ranked = retriever.reranker.rerank(query_bundle.query_str, None, candidates)
        by_id = {h.paper.paper_id: h for h in hits}
        out = []
        for c in ranked:
            hit = replace(by_id[c.paper_id], scores=c.scores)
            out.append(NodeWithScore(node=paper_node(hit.paper, hit), score=c.scores["rerank"]))
        out += [n for n in nodes if node_paper(n.node, self._engine) is None]
        return out[: self.top_n]


# ------------------------------------------------------------------ engines
class CitedQueryEngine(RetrieverQueryEngine):
    """The library's query engine: `PaperRetriever`, any node postprocessors, then
    `CitedSynthesizer`. A plain string or QueryBundle is asked as a `LibraryQuery`."""

    def __init__(
        self,
        engine: Engine,
        llm: str | None = None,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
        streaming: bool = False,
        node_postprocessors: list[BaseNodePostprocessor] | None = None,
    ) -> None:
        super().__init__(
            retriever=PaperRetriever(engine, top_k, filters, mode),
            response_synthesizer=CitedSynthesizer(engine, llm, streaming),
            node_postprocessors=node_postprocessors,
        )

    @property
    def synthesizer(self) -> CitedSynthesizer:
        return self._response_synthesizer  # type: ignore[return-value]

    def _query(self, query_bundle: QueryBundle) -> Response | StreamingResponse:
        return super()._query(library_query(query_bundle))

    async def _aquery(self, query_bundle: QueryBundle) -> Response | StreamingResponse:
        return self._query(query_bundle)

    def stream(self, query: str | LibraryQuery) -> Iterator[Event]:
        """The answer's pieces as written, then the Answer (what `Engine.ask_stream`
        yields). Closing the iterator stops the answer and its LLM request."""
        query = library_query(query)
        nodes = self.retrieve(query)
        yield from self.synthesizer.events(query, nodes)


class CitedChatEngine(BaseChatEngine):
    """A conversation over the query engine: a follow-up ("what dataset did they
    use?") is condensed into a standalone question (by the configured LLM when there
    is one, else by rule), searched among the papers the previous answer cited, and
    answered without repeating the previous answer."""

    def __init__(
        self,
        engine: Engine,
        llm: str | None = None,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
        history: Sequence[Turn] = (),
    ) -> None:
        self._engine, self._llm = engine, llm
        self._query_engine = CitedQueryEngine(engine, llm, top_k, filters, mode)
        self._turns: list[Turn] = list(history)
        self._messages: list[ChatMessage] = []
        for t in self._turns:
            self._messages += _messages(t.question, t.answer)

    def reset(self) -> None:
        self._turns, self._messages = [], []

    @property
    def chat_history(self) -> list[ChatMessage]:
        return list(self._messages)

    @property
    def turns(self) -> list[Turn]:
        return list(self._turns)

    def stream_events(self, message: str) -> Iterator[Event]:
        """The answer to the next message as `CitedQueryEngine.stream` gives it; the
        turn is remembered once the answer is complete."""
        started = time.perf_counter()
        history = self._turns
        standalone = message
        if history:
            chat_model, _ = self._engine.chat_model(self._llm or self._engine.config.llm)
            standalone = condense(message, history, chat_model)
        prefer = carry_papers(message, history) if history else ()
        # A follow-up is answered from the papers it refers to, with its own words,
        # and never by repeating the previous answer.
        turn = FollowUp(message, history[-1].answer) if prefer else None
        # top_k, filters and mode: the query engine's retriever holds them
        query = LibraryQuery(standalone, prefer=prefer, asked=message, turn=turn, started=started)
        for event in self._query_engine.stream(query):
            if isinstance(event, Answer):
                self._remember(message, event)
            yield event

    def _remember(self, message: str, answer: Answer) -> None:
        self._turns.append(Turn.of(answer))
        self._messages += _messages(message, answer.text)

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        answer = _final(self.stream_events(message))
        response = answer_response(answer)
        return AgentChatResponse(
            response=answer.text, source_nodes=response.source_nodes, metadata=response.metadata
        )

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> CitedStreamingResponse:
        """The answer's words as they are written (`response_gen`), as LlamaIndex's
        streaming chat engines give them; once the stream ends, `response` is the
        checked answer (which replaces the streamed text when an LLM answer failed its
        checks) and `source_nodes` and `metadata` are filled in."""
        response = CitedStreamingResponse()
        response.chat_stream = response.deltas(self.stream_events(message))
        return response

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        return self.chat(message)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> CitedStreamingResponse:
        response = self.stream_chat(message)
        response.achat_stream = _async(response.chat_stream)
        return response


@dataclass
class CitedStreamingResponse(StreamingAgentChatResponse):
    """A streamed chat answer: text deltas while it is written, then the Answer."""

    metadata: dict[str, Any] = field(default_factory=dict)
    answer: Answer | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.is_writing_to_memory = False  # the chat engine keeps its own history

    def deltas(self, events: Iterator[Event]) -> Iterator[ChatResponse]:
        written = ""
        for event in events:
            if isinstance(event, Answer):
                self._finish(event)
            elif event:
                written += event
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=written), delta=event
                )

    def _finish(self, answer: Answer) -> None:
        done = answer_response(answer)
        self.answer, self.metadata = answer, done.metadata
        self.source_nodes[:] = done.source_nodes
        self.response = self.unformatted_response = answer.text

    @property
    def response_gen(self) -> Iterator[str]:
        yield from super().response_gen
        self._settle()

    async def async_response_gen(self) -> AsyncIterator[str]:
        async for delta in super().async_response_gen():
            yield delta
        self._settle()

    def _settle(self) -> None:
        # The base class leaves the streamed text in `response`; the checked answer wins.
        if self.answer is not None:
            self.response = self.unformatted_response = self.answer.text

    def __str__(self) -> str:
        if self.answer is None and self.chat_stream is not None:
            for _ in self.response_gen:  # not streamed yet: the whole answer
                pass
        return self.response


async def _async(events: Iterator[ChatResponse]) -> AsyncIterator[ChatResponse]:
    for event in events:
        yield event


def _messages(question: str, answer: str) -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.USER, content=question),
        ChatMessage(role=MessageRole.ASSISTANT, content=answer),
    ]
