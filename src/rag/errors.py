"""The errors the package raises on purpose. Each message is one line that names
the thing that is wrong and says what to do; the shells (CLI, UI) show it as is.

    RagError
    ├── ConfigError          a setting or flag has a bad value
    ├── InputError           bad user input: empty question, inverted year range, ...
    ├── SourceError          a file cannot be ingested (missing, empty, binary, unknown format)
    │   └── ParseError       a known format with a malformed entry (carries file and line)
    ├── StoreError           the store cannot be opened or used
    │   ├── EmptyStoreError  nothing ingested yet
    │   └── StoreMismatchError  built with another embedding model/dimension or version
    ├── NoMatchError         filters match no paper
    ├── LLMError             an LLM backend failed (unreachable, wrong model, timeout, bad reply)
    └── PullError            `rag models pull` failed: pip could not fetch a part, or a hash,
                             size or magic number did not match (nothing is left in place)
"""

from __future__ import annotations


class RagError(Exception):
    """Base class; str(error) is the one-line message for the user."""


class ConfigError(RagError):
    pass


class InputError(RagError):
    pass


class SourceError(RagError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ParseError(SourceError):
    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        RagError.__init__(self, f"{where}: {problem}")
        self.path = path
        self.problem = problem


class StoreError(RagError):
    pass


class EmptyStoreError(StoreError):
    pass


class StoreMismatchError(StoreError):
    pass


class NoMatchError(RagError):
    pass


class LLMError(RagError):
    pass


class PullError(RagError):
    pass
