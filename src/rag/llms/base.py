"""The one interface every LLM backend implements, and the adapter over LlamaIndex LLMs.

    class ChatModel(Protocol):
        name: str                                   # "openai:gpt-4o-mini"
        def chat(self, messages) -> str             # the whole reply
        def stream(self, messages) -> Iterator[str] # the reply in pieces

Messages are (role, content) tuples with role "system", "user" or "assistant".
Every failure leaves a backend as an `LLMError` whose one-line message names the
backend, the server or model and what to do; vendor exceptions never escape.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..errors import LLMError

Message = tuple[str, str]
ROLES = ("system", "user", "assistant")
MAX_DETAIL_CHARS = 160  # how much of a server's own error text a message quotes


class ChatModel(Protocol):
    name: str

    def chat(self, messages: Sequence[Message]) -> str:
        """The model's whole reply to the conversation."""
        ...

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """The model's reply in pieces, as they are generated."""
        ...


def one_line(text: object, limit: int = MAX_DETAIL_CHARS) -> str:
    """Whitespace-collapsed, shortened text for an error message.

    >>> one_line("model\\n  not   found")
    'model not found'
    """
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def redact(message: str, secret: str | None) -> str:
    """The message with the secret (an API key) masked, should a server echo it.

    >>> redact("bad key sk-123", "sk-123")
    'bad key ***'
    """
    return message.replace(secret, "***") if secret else message


class LlamaIndexChat:
    """A ChatModel over a LlamaIndex LLM object, which stays inside this adapter.

    `explain` turns any exception raised by the LLM into the text of an LLMError;
    each backend supplies its own, since each vendor fails differently. `lock`
    serialises calls to an in-process model that is not thread-safe.
    """

    def __init__(
        self,
        name: str,
        llm: Any,
        explain: Callable[[BaseException], str],
        secret: str | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.name = name
        self._llm = llm
        self._explain = explain
        self._secret = secret
        self._lock = lock or contextlib.nullcontext()

    def chat(self, messages: Sequence[Message]) -> str:
        chat_messages = _to_llama_index(messages)
        try:
            with self._lock:
                response = self._llm.chat(chat_messages)
            text = response.message.content
        except LLMError:
            raise
        except Exception as exc:  # every vendor failure becomes one LLMError
            raise self._error(exc) from None
        if not isinstance(text, str):
            raise self._error(ValueError(f"reply has no text content: {type(text).__name__}"))
        return text

    def stream(self, messages: Sequence[Message]) -> Iterator[str]:
        chat_messages = _to_llama_index(messages)
        try:
            with self._lock:
                for chunk in self._llm.stream_chat(chat_messages):
                    if chunk.delta:
                        yield chunk.delta
        except GeneratorExit:
            # The reader stopped early. An HTTP client's stream object and its
            # generator refer to each other (openai's Stream does), so only the
            # cycle collector would close the response, and until then the server
            # keeps generating: collect now, so the request ends with the stop.
            gc.collect()
            raise
        except LLMError:
            raise
        except Exception as exc:  # also failures in the middle of a stream
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> LLMError:
        return LLMError(redact(one_line(self._explain(exc), limit=400), self._secret))

    def __repr__(self) -> str:  # never show the LLM object: it holds the API key
        return f"{type(self).__name__}({self.name!r})"


def _to_llama_index(messages: Sequence[Message]) -> list:
    from llama_index.core.llms import ChatMessage

    for role, _ in messages:
        if role not in ROLES:
            raise LLMError(f"unknown chat role {role!r}: use one of {', '.join(ROLES)}")
    return [ChatMessage(role=role, content=content) for role, content in messages]


def describe_exception(exc: BaseException) -> str:
    """A vendor exception as 'Type: message', one line, for the tail of an LLMError."""
    detail = one_line(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
