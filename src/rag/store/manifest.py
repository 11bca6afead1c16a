"""The `<name>_files` collection: one row per ingested source file (FileEntry), and one
row holding the store's generation token.

The token is replaced by every write before it changes any data, so anything built
from the store (the saved library index, library_index.py) names the token it was
built from and is out of date once the token differs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from .connection import Calls
from .records import FileEntry, entry_from_metadata, entry_metadata

PLACEHOLDER = [0.0]  # the vector of rows that are looked up by id, never searched
_GENERATION_ID = "rag:generation"  # a row of the files collection; no path looks like it


class Manifest:
    def __init__(self, collection, call: Calls) -> None:
        self._rows, self._call = collection, call

    def generation(self) -> str | None:
        """The token of the store's current content (None before the first write)."""
        rows = self._call(self._rows.get, ids=[_GENERATION_ID], include=["metadatas"])
        metas = rows.get("metadatas") or []
        token = (metas[0] or {}).get("token") if metas else None
        return token if isinstance(token, str) else None

    def new_generation(self) -> str:
        """Store a new generation token and return it."""
        token = uuid.uuid4().hex
        self._call(
            self._rows.upsert,
            ids=[_GENERATION_ID],
            embeddings=[PLACEHOLDER],
            metadatas=[{"token": token}],
        )
        return token

    def files(self) -> dict[str, FileEntry]:
        """Every file entry, keyed by resolved path."""
        page = self._call(self._rows.get, include=["metadatas"])
        return {
            path: entry_from_metadata(path, meta)
            for path, meta in zip(page["ids"], page["metadatas"], strict=True)
            if path != _GENERATION_ID
        }

    def put(self, entry: FileEntry) -> None:
        self._call(
            self._rows.upsert,
            ids=[entry.path],
            embeddings=[PLACEHOLDER],
            metadatas=[entry_metadata(entry)],
        )

    def delete(self, paths: Sequence[str]) -> None:
        if paths:
            self._call(self._rows.delete, ids=list(paths))
