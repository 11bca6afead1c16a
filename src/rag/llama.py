"""The library as LlamaIndex components, for use in someone else's pipeline.

    retriever = engine.as_retriever(top_k=3)        # a BaseRetriever: one node per paper
    query_engine = engine.as_query_engine()         # a query engine: cited, checked answers
    chat_engine = engine.as_chat_engine()           # a chat engine: follow-ups resolved

Each returns LlamaIndex's own types (`NodeWithScore`, `Response`, `AgentChatResponse`);
a paper is a `TextNode` whose id is the paper id and whose metadata holds its title,
authors, year and link. A `Response`'s metadata carries what the product shows: the
citations with their supporting sentences and support scores, the warnings, the
refusal flag and the answerer's evidence. Nothing here reads LlamaIndex's global
`Settings` (which would mean OpenAI): the engine's own embedder and answer backend
are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.base.response.schema import Response
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from .answer.followup import Turn
from .types import Answer, Filters, Hit, Paper

if TYPE_CHECKING:
    from .engine import Engine


def paper_node(paper: Paper) -> TextNode:
    """A paper as a LlamaIndex node: title and abstract as text, the rest as metadata.

    >>> paper_node(Paper.create("A Title", "An abstract.", year=2024)).metadata["year"]
    2024
    """
    metadata = {
        "paper_id": paper.paper_id,
        "title": paper.title,
        "authors": ", ".join(paper.authors),
        "year": paper.year,
        "link": paper.link,
    }
    return TextNode(
        id_=paper.paper_id,
        text=paper.text,
        metadata={k: v for k, v in metadata.items() if v not in (None, "")},
        excluded_embed_metadata_keys=["paper_id", "link"],
        excluded_llm_metadata_keys=["paper_id"],
    )


def hit_nodes(hits: tuple[Hit, ...] | list[Hit]) -> list[NodeWithScore]:
    return [NodeWithScore(node=paper_node(h.paper), score=h.score) for h in hits]


def answer_response(answer: Answer) -> Response:
    """Our Answer as a LlamaIndex Response: the papers as source nodes."""
    data = answer.to_json()
    metadata = {
        k: data[k] for k in ("citations", "refused", "warnings", "notes", "backend", "evidence")
    }
    return Response(response=answer.text, source_nodes=hit_nodes(answer.hits), metadata=metadata)


class PaperRetriever(BaseRetriever):
    """Hybrid retrieval (dense from Chroma + BM25, fused, reranked), one node per paper."""

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
        retrieval = self._engine.retrieve(
            query_bundle.query_str, self._top_k, self._filters, self._mode
        )
        return hit_nodes(retrieval.hits)


class CitedQueryEngine(CustomQueryEngine):
    """Retrieval, the answer backend and the citation check, as one query engine."""

    engine: Any  # rag.engine.Engine (not a pydantic type)
    llm: str | None = None  # answer backend; None means the engine's configured one
    top_k: int | None = None
    filters: Filters | None = None

    def custom_query(self, query_str: str) -> Response:
        answer = self.engine.ask(query_str, top_k=self.top_k, filters=self.filters, llm=self.llm)
        return answer_response(answer)


class CitedChatEngine(BaseChatEngine):
    """A conversation: follow-ups ("what dataset did they use?") are resolved against
    the papers of the previous turns (condensed by the configured LLM when there is
    one, else by rule) and answered without repeating the previous answer."""

    def __init__(self, engine: Engine, llm: str | None = None, top_k: int | None = None):
        self._engine, self._llm, self._top_k = engine, llm, top_k
        self._turns: list[Turn] = []
        self._messages: list[ChatMessage] = []

    def reset(self) -> None:
        self._turns, self._messages = [], []

    @property
    def chat_history(self) -> list[ChatMessage]:
        return list(self._messages)

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        answer = self._engine.ask(message, history=self._turns, llm=self._llm, top_k=self._top_k)
        self._turns.append(
            Turn(
                message,
                answer.text,
                tuple(c.paper.paper_id for c in answer.citations),
                tuple(c.paper.title for c in answer.citations),
            )
        )
        self._messages += [
            ChatMessage(role=MessageRole.USER, content=message),
            ChatMessage(role=MessageRole.ASSISTANT, content=answer.text),
        ]
        response = answer_response(answer)
        return AgentChatResponse(
            response=answer.text, source_nodes=response.source_nodes, metadata=response.metadata
        )

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        # The answer is checked as a whole before it is shown; its words then stream.
        done = self.chat(message)
        done.is_dummy_stream = True
        return done  # type: ignore[return-value]  # LlamaIndex's engines do the same

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        return self.chat(message)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        return self.stream_chat(message)
