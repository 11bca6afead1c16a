"""What opening a library builds, kept on disk so the next process loads it.

Opening a library reads every paper's metadata and every chunk's text out of Chroma,
then builds the BM25 index, the term statistics and the glossary: about 7 s at 10k
papers and over a minute at 100k. After building them, the engine saves them here
(`<store>/rag-index/<collection>/`); a later open loads them (the BM25 arrays
memory-mapped) instead of reading the whole store.

Freshness. The store keeps a generation token (`Store.generation`) that every write
replaces *before* it changes any data. A saved index records the token and chunk count
it was built from and is used only while both still match; otherwise it is rebuilt from
the store and saved again. So an interrupted write (SIGKILL mid-ingest) has already
changed the token and the old index is not used; an interrupted save never replaces the
manifest, which is written last and atomically, and names the folder of its files. A
missing, damaged or other-format index is rebuilt with a one-line notice, never used.

Updates. A write by the engine (ingest, remove) does not rebuild the index: the
store records which papers the write touched (Store.record_changes), and `updated`
replaces just those papers' rows, reading and tokenizing only their chunks, starting
from the index of the store as it was before the write. BM25's statistics are then
computed afresh from the kept token ids, so the scores equal a rebuild's. The update
is used only when the write began from an index of the store's generation at the time
and the store's generation afterwards is the last one the write set (no other writer
in between); otherwise the index is read whole from the store, as on a first open.

Layout: `manifest.json` (format, generation, chunks, papers, folder) and one folder per
saved generation holding `catalog.jsonl`, `keyword/` (bm25s's files plus the chunk and
paper ids, and each chunk's token ids as CSR arrays), `terms/` (each paper's term ids as
a CSR matrix, the vocabulary, the document frequencies) and `glossary.json`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .store import short_error
from .types import Paper

if TYPE_CHECKING:
    from .glossary import Glossary
    from .keyword import KeywordIndex, TermTable
    from .store import Store

FORMAT = 2  # bump when what is saved changes: an older index is then rebuilt
# 2: the keyword index keeps each chunk's token ids (for updates)
MANIFEST = "manifest.json"
log = logging.getLogger(__name__)


@dataclass
class Saved:
    """A loaded index: everything the snapshot needs besides the store itself."""

    catalog: dict[str, Paper]
    keyword: KeywordIndex
    terms: TermTable
    glossary: Glossary


def index_dir(store_dir: Path, collection: str, url: str | None = None) -> Path:
    """Where a library's saved index lives: inside an embedded store's folder; for a
    Chroma server, under the local store folder, named by the server and collection."""
    name = collection
    if url:
        host = "".join(c if c.isalnum() else "-" for c in url.split("://")[-1]).strip("-")
        name = f"{host}-{collection}"
    return Path(store_dir) / "rag-index" / name


def load(directory: Path, generation: str | None, chunks: int) -> Saved | None:
    """The saved index if it was built from this generation of the store, else None
    (with a one-line notice when one exists but cannot be used)."""
    manifest_file = directory / MANIFEST
    if generation is None or not manifest_file.exists():
        return None
    try:
        manifest = json.loads(manifest_file.read_text("utf-8"))
        if manifest.get("format") != FORMAT:
            log.warning("rebuilding the library index at %s: saved by another version", directory)
            return None
        if manifest.get("generation") != generation or manifest.get("chunks") != chunks:
            log.warning("rebuilding the library index at %s: the store changed since", directory)
            return None
        return _read(directory / manifest["folder"], int(manifest["papers"]))
    except Exception as exc:  # noqa: BLE001 - any damage: rebuild, never use it
        log.warning(
            "rebuilding the library index at %s: it is damaged (%s)", directory, short_error(exc)
        )
        return None


def updated(saved: Saved, papers: set[str], store: Store) -> Saved:
    """`saved` with these papers as the store holds them now (gone when it holds none of
    them): only their rows and chunks are read and tokenized. The keyword scores and
    term statistics equal those of an index built from the whole store; the glossary
    is found again over the catalog's texts (a second at 100k papers)."""
    from .glossary import Glossary

    stored = store.lookup(papers)
    catalog = {pid: paper for pid, paper in saved.catalog.items() if pid not in papers}
    catalog.update((pid, s.paper) for pid, s in stored.items())
    keyword = saved.keyword.updated(papers, store.chunks_of(stored))
    terms = saved.terms.updated(papers, {pid: s.paper.text for pid, s in stored.items()})
    return Saved(catalog, keyword, terms, Glossary(p.text for p in catalog.values()))


def save(directory: Path, generation: str, chunks: int, saved: Saved) -> None:
    """Write the index for this generation; the manifest is replaced last, so a reader
    sees the old index or the new one, never part of one. Failures are only logged:
    the next open rebuilds."""
    folder = f"gen-{generation}"
    target = directory / folder
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f"{folder}.{os.getpid()}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        _write(partial, saved)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
        manifest = {
            "format": FORMAT,
            "generation": generation,
            "chunks": chunks,
            "papers": len(saved.catalog),
            "folder": folder,
        }
        tmp = directory / f"{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(manifest), "utf-8")
        os.replace(tmp, directory / MANIFEST)
    except Exception as exc:  # noqa: BLE001 - a failed save must not fail the open
        log.warning("could not save the library index at %s (%s)", directory, short_error(exc))
        return
    for item in directory.iterdir():  # earlier generations and abandoned partial writes
        if item.name not in (folder, MANIFEST):
            shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(True)


def _write(folder: Path, saved: Saved) -> None:
    with open(folder / "catalog.jsonl", "w", encoding="utf-8") as out:
        for paper in saved.catalog.values():
            out.write(json.dumps(asdict(paper), ensure_ascii=False) + "\n")
    saved.keyword.save(folder / "keyword")
    saved.terms.save(folder / "terms")
    (folder / "glossary.json").write_text(json.dumps(saved.glossary.pairs()), "utf-8")


def _read(folder: Path, papers: int) -> Saved:
    from .glossary import Glossary
    from .keyword import KeywordIndex, TermTable

    catalog: dict[str, Paper] = {}
    with open(folder / "catalog.jsonl", encoding="utf-8") as lines:
        for line in lines:
            data = json.loads(line)
            for key in ("authors", "affiliations", "sources"):
                data[key] = tuple(data[key])
            catalog[data["paper_id"]] = Paper(**data)
    if len(catalog) != papers:
        raise ValueError(f"{len(catalog)} papers in the catalog, the manifest says {papers}")
    keyword = KeywordIndex.load(folder / "keyword")
    terms = TermTable.load(folder / "terms", keyword.terms_of)
    if terms.papers != papers:
        raise ValueError(f"term table of {terms.papers} papers, the manifest says {papers}")
    glossary = Glossary.from_pairs(json.loads((folder / "glossary.json").read_text("utf-8")))
    return Saved(catalog, keyword, terms, glossary)
