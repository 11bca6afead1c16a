"""Connecting to Chroma (embedded or a server), its failures as one-line errors, and
the embedded store's own files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

from ..errors import StoreError

REBUILD_FIX = "rebuild it with `rag ingest --rebuild`"
PAGE = 5000  # rows per Chroma get() / delete() page
_SEGMENT_DIR = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def connect(path: Path, url: str | None):
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=True)
    if url:
        parsed = urlparse(url)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname or "localhost",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise StoreError(
                f"cannot reach the Chroma server at {url} ({short_error(exc)}): start it with "
                "`chroma run --path DIR --port PORT` or fix RAG_CHROMA_URL"
            ) from None
        return client
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        raise StoreError(
            f"cannot open the store at {path} ({short_error(exc)}): {REBUILD_FIX}"
        ) from None


def remove_store_files(path: Path) -> None:
    """Delete an embedded store's own files (its database and index segments) and
    nothing else in the directory: `rag ingest --rebuild` when Chroma cannot open them."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # forget clients opened on these files
    for item in Path(path).iterdir():
        if item.is_file() and item.name.startswith("chroma.sqlite3"):  # and -wal, -journal
            item.unlink()
        elif item.is_dir() and _SEGMENT_DIR.fullmatch(item.name):
            shutil.rmtree(item)


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


class Calls:
    """Chroma calls whose failures become one StoreError line naming the store."""

    def __init__(self, location: str, remote: bool) -> None:
        self.location, self.remote = location, remote

    def __call__(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            # Embedded, a failing read or write means damaged files; a server may be down.
            fix = "check the Chroma server" if self.remote else REBUILD_FIX
            raise StoreError(
                f"the store at {self.location} failed ({short_error(exc)}): {fix}"
            ) from exc
