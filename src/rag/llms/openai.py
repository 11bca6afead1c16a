"""Any OpenAI-compatible chat server: OpenAI itself, a llama.cpp server, vLLM, LM Studio.

Built on LlamaIndex's `OpenAILike`, passed explicitly (never the global Settings).
    RAG_LLM=openai RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1 RAG_LLM_MODEL=gemma
"""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import LlamaIndexChat, describe_exception, one_line

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"  # used only against OpenAI itself when RAG_LLM_MODEL is unset
# Local servers ignore the key, but the OpenAI client refuses to start without one.
PLACEHOLDER_KEY = "no-key-needed"
MAX_RETRIES = 1  # one quick retry for a dropped connection; a dead server fails fast
CONTEXT_WINDOW = 8192  # only informs LlamaIndex; the server enforces the real limit
TEMPERATURE = 0.1  # near-deterministic: answers should restate the sources


def from_config(config: Config) -> LlamaIndexChat:
    """The `openai` backend for these settings."""
    base_url = (config.llm_base_url or OPENAI_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"LLM base URL {base_url!r} must start with http:// or https:// "
            "(e.g. http://127.0.0.1:8080/v1)"
        )
    if base_url == OPENAI_BASE_URL and not config.llm_api_key:
        raise ConfigError(
            "the openai backend needs an API key: set RAG_LLM_API_KEY or OPENAI_API_KEY"
        )
    model = config.llm_model or DEFAULT_MODEL
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=model,
        api_base=base_url,
        api_key=config.llm_api_key or PLACEHOLDER_KEY,
        is_chat_model=True,
        context_window=CONTEXT_WINDOW,
        max_tokens=config.llm_max_tokens,
        temperature=TEMPERATURE,
        timeout=config.llm_timeout,
        max_retries=MAX_RETRIES,
    )

    def explain(exc: BaseException) -> str:
        return explain_error(exc, base_url, model, config.llm_timeout)

    return LlamaIndexChat(f"openai:{model}", llm, explain, secret=config.llm_api_key)


def explain_error(exc: BaseException, base_url: str, model: str, timeout: float) -> str:
    """What went wrong talking to an OpenAI-compatible server, and what to do."""
    import openai

    where = f"openai backend at {base_url}"
    if isinstance(exc, openai.APITimeoutError):
        return (
            f"{where}: no reply within {timeout:g}s from model {model!r}: "
            "raise RAG_LLM_TIMEOUT or use a smaller model"
        )
    if isinstance(exc, openai.APIConnectionError):
        return f"{where}: cannot connect: start the server or set RAG_LLM_BASE_URL to where it runs"
    if isinstance(exc, openai.NotFoundError):
        return (
            f"{where}: model {model!r} or the chat endpoint was not found (HTTP 404): "
            "set RAG_LLM_MODEL to a served model and RAG_LLM_BASE_URL to the API root "
            f"(usually ending in /v1); server said: {_server_message(exc)}"
        )
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return f"{where}: the API key was rejected (HTTP {exc.status_code}): set RAG_LLM_API_KEY"
    if isinstance(exc, openai.RateLimitError):
        return f"{where}: rate limited (HTTP 429): wait a moment and ask again"
    if isinstance(exc, openai.APIStatusError):
        return (
            f"{where}: the server refused the request (HTTP {exc.status_code}): "
            f"{_server_message(exc)}; check RAG_LLM_MODEL and RAG_LLM_MAX_TOKENS"
        )
    return (
        f"{where}: malformed reply for model {model!r} ({describe_exception(exc)}): "
        "check that RAG_LLM_BASE_URL points to an OpenAI-compatible API"
    )


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    return one_line(body if body else exc, limit=120)
