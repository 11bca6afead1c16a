"""A GGUF model run in-process by llama.cpp, through LlamaIndex's `LlamaCPP` class.

    RAG_LLM=llamacpp RAG_LLM_MODEL=/models/gemma-3-270m-q4_k_m.gguf RAG_LLM_CHAT_FORMAT=gemma
    RAG_LLM=llamacpp RAG_LLM_MODEL=qwen2.5-coder-1.5b   # after `rag models pull qwen2.5-coder-1.5b`

LlamaCPP turns messages into one prompt string with a `messages_to_prompt`
function; this adapter supplies one from llama-cpp-python's chat formatters (or
the GGUF's own chat template), so the model sees the turn markers it was trained on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import ConfigError, LLMError
from ..models import GGUF, resolve
from .base import LlamaIndexChat, describe_exception

# Tokens. A five-source prompt over the bundled abstracts measures ~1,600 tokens
# (max ~2,000, Gemma tokenizer); with RAG_LLM_MAX_TOKENS=512 of answer, 4096 fits.
CONTEXT_WINDOW = 4096
TEMPERATURE = 0.1
# llama-cpp-python registers its chat formats only as whole completion handlers;
# the formatter functions behind the common ones are looked up by these names.
FORMATTERS = {
    "gemma": "format_gemma",
    "chatml": "format_chatml",
    "llama-2": "format_llama2",
    "llama-3": "format_llama3",
    "mistral-instruct": "format_mistral_instruct",
    "qwen": "format_qwen",
    "zephyr": "format_zephyr",
    "openchat": "format_openchat",
    "alpaca": "format_alpaca",
}
# Formats without a system turn drop system messages; Gemma's own template puts the
# system text at the start of the first user turn instead, and so does this adapter.
NO_SYSTEM_ROLE = frozenset({"gemma"})

Formatter = Callable[..., Any]  # llama_cpp.llama_chat_format.ChatFormatter


def from_config(config: Config) -> LlamaIndexChat:
    """The `llamacpp` backend for these settings; loads the model now."""
    if not config.llm_model:
        raise ConfigError("the llamacpp backend needs a model: set RAG_LLM_MODEL to a GGUF file")
    chat_format = config.llm_chat_format
    if chat_format is not None and chat_format not in FORMATTERS:
        raise ConfigError(
            f"unknown llama.cpp chat format {chat_format!r}: use one of {', '.join(FORMATTERS)}"
        )
    path = Path(resolve(config.llm_model, GGUF, config.models_dir)).expanduser()
    if not path.is_file():
        raise LLMError(
            f"llamacpp backend: model file {path} not found: "
            "set RAG_LLM_MODEL to the path of a GGUF file or a pulled model's name"
        )
    try:
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError:
        raise LLMError(
            "llamacpp backend: llama-cpp-python is not installed: "
            "pip install llama-cpp-python==0.3.16 llama-index-llms-llama-cpp"
        ) from None
    try:
        llm = LlamaCPP(
            model_path=str(path),
            max_new_tokens=config.llm_max_tokens,
            context_window=CONTEXT_WINDOW,
            temperature=TEMPERATURE,
            model_kwargs={"n_threads": config.llm_threads},
            verbose=False,
        )
    except Exception as exc:  # llama.cpp reports a bad file as ValueError
        raise LLMError(
            f"llamacpp backend: cannot load {path} ({describe_exception(exc)}): "
            "set RAG_LLM_MODEL to a GGUF model file this llama.cpp supports"
        ) from None

    formatter, merge_system = _choose_formatter(llm._model, chat_format, path)
    llm.messages_to_prompt = _messages_to_prompt(formatter, merge_system)
    stop = formatter(messages=[{"role": "user", "content": "."}]).stop
    if stop:
        llm.generate_kwargs["stop"] = [stop] if isinstance(stop, str) else list(stop)

    def explain(exc: BaseException) -> str:
        return (
            f"llamacpp backend with {path.name}: generation failed ({describe_exception(exc)}): "
            "if the prompt is too long, lower RAG_TOP_K or shorten the question"
        )

    # One llama.cpp context cannot serve two requests at once (the UI runs several).
    return LlamaIndexChat(f"llamacpp:{path.name}", llm, explain, lock=threading.Lock())


def _choose_formatter(llama: Any, chat_format: str | None, path: Path) -> tuple[Formatter, bool]:
    """The named format; else the GGUF's own template; else Gemma's for a Gemma model."""
    from llama_cpp import llama_chat_format

    if chat_format is None:
        template = llama.metadata.get("tokenizer.chat_template")
        if template:
            formatter = llama_chat_format.Jinja2ChatFormatter(
                template=template,
                eos_token=llama._model.token_get_text(llama.token_eos()),
                bos_token=llama._model.token_get_text(llama.token_bos()),
            )
            return formatter, False
        if llama.metadata.get("general.architecture", "").startswith("gemma"):
            chat_format = "gemma"  # Gemma GGUFs often ship without a template
        else:
            raise ConfigError(
                f"{path.name} has no chat template: set RAG_LLM_CHAT_FORMAT to one of "
                f"{', '.join(FORMATTERS)}"
            )
    return getattr(llama_chat_format, FORMATTERS[chat_format]), chat_format in NO_SYSTEM_ROLE


def _messages_to_prompt(formatter: Formatter, merge_system: bool) -> Callable[[Sequence], str]:
    def messages_to_prompt(messages: Sequence) -> str:
        dicts = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        if merge_system:
            dicts = merge_system_into_user(dicts)
        return formatter(messages=dicts).prompt

    return messages_to_prompt


def merge_system_into_user(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """System messages prepended to the first user message, for templates without them.

    >>> merge_system_into_user([{"role": "system", "content": "Rules."},
    ...                         {"role": "user", "content": "Q?"}])
    [{'role': 'user', 'content': 'Rules.\\n\\nQ?'}]
    """
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    for message in rest:
        if message["role"] == "user":
            message["content"] = system + "\n\n" + message["content"]
            return rest
    return [{"role": "user", "content": system}, *rest]
