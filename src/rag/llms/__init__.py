"""LLM backends behind one tiny interface (`base.ChatModel`), chosen by name.

    >>> sorted(BACKENDS)
    ['llamacpp', 'ollama', 'openai']

`extractive` is not an LLM: the engine handles it before asking this registry.
Each backend module is imported only when chosen, so vendor libraries load lazily.
"""

from __future__ import annotations

from importlib import import_module

from ..config import Config
from ..errors import ConfigError
from .base import ChatModel, Message

# name -> module in this package with a `from_config(config) -> ChatModel`
BACKENDS = {
    "llamacpp": "llamacpp",
    "ollama": "ollama",
    "openai": "openai",
}

__all__ = ["BACKENDS", "ChatModel", "Message", "get_chat_model"]


def get_chat_model(config: Config) -> ChatModel:
    """The chat model config.llm names; ConfigError for an unknown name."""
    module_name = BACKENDS.get(config.llm)
    if module_name is None:
        raise ConfigError(
            f"unknown LLM backend {config.llm!r}: use one of "
            f"{', '.join(sorted(BACKENDS))} (or extractive for no LLM)"
        )
    module = import_module(f"{__name__}.{module_name}")
    return module.from_config(config)
