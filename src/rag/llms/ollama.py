"""A model served by Ollama, through LlamaIndex's `Ollama` class.

RAG_LLM=ollama RAG_LLM_MODEL=llama3.2 [RAG_LLM_BASE_URL=http://127.0.0.1:11434]
"""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import LlamaIndexChat, describe_exception, one_line

OLLAMA_BASE_URL = "http://127.0.0.1:11434"
# Set explicitly: left unset, LlamaIndex asks the server for it before every request.
CONTEXT_WINDOW = 8192
TEMPERATURE = 0.1


def from_config(config: Config) -> LlamaIndexChat:
    """The `ollama` backend for these settings."""
    if not config.llm_model:
        raise ConfigError("the ollama backend needs a model: set RAG_LLM_MODEL (e.g. llama3.2)")
    base_url = (config.llm_base_url or OLLAMA_BASE_URL).rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"Ollama URL {base_url!r} must start with http:// or https://")
    model = config.llm_model
    from llama_index.llms.ollama import Ollama

    llm = Ollama(
        model=model,
        base_url=base_url,
        request_timeout=config.llm_timeout,
        context_window=CONTEXT_WINDOW,
        temperature=TEMPERATURE,
        additional_kwargs={"num_predict": config.llm_max_tokens},
    )

    def explain(exc: BaseException) -> str:
        return explain_error(exc, base_url, model, config.llm_timeout)

    return LlamaIndexChat(f"ollama:{model}", llm, explain, secret=config.llm_api_key)


def explain_error(exc: BaseException, base_url: str, model: str, timeout: float) -> str:
    """What went wrong talking to Ollama, and what to do."""
    import httpx
    from ollama import ResponseError

    where = f"ollama backend at {base_url}"
    if isinstance(exc, httpx.TimeoutException):
        return (
            f"{where}: no reply within {timeout:g}s from model {model!r}: "
            "raise RAG_LLM_TIMEOUT or use a smaller model"
        )
    # The ollama client turns a refused connection into the builtin ConnectionError.
    if isinstance(exc, (ConnectionError, httpx.TransportError)):
        return f"{where}: cannot connect: start Ollama (`ollama serve`) or set RAG_LLM_BASE_URL"
    if isinstance(exc, ResponseError):
        if exc.status_code == 404 or "not found" in str(exc.error).lower():
            return (
                f"{where}: model {model!r} not found: run `ollama pull {model}` "
                "or set RAG_LLM_MODEL to an installed model"
            )
        return (
            f"{where}: the server refused the request (HTTP {exc.status_code}): "
            f"{one_line(exc.error, limit=120)}"
        )
    return (
        f"{where}: malformed reply for model {model!r} ({describe_exception(exc)}): "
        "check that RAG_LLM_BASE_URL points to an Ollama server"
    )
