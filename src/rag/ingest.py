"""Files -> papers -> merged with what is stored -> embedded and stored, batch by batch.

    each file:  unchanged since its manifest entry (sha256)? -> counted, not even parsed
                otherwise streamed through its parser in batches of BATCH_PAPERS:
                  merge the copies within the batch (sources/merge.py)
                  match each paper against the store by paper id, DOI or arXiv id,
                  and merge it with the stored copy (sources unioned, cleanest abstract)
                  new or changed text -> embed and store; changed metadata -> rewrite it
                then write the file's manifest entry
    --prune:    papers that none of their source files holds any more are removed
    run_papers: papers given as they are (a benchmark corpus): ids kept, none merged

Memory stays bounded however large the input: one batch of papers is held at a
time, the store itself is the de-duplication map, and only paper ids are kept for
the whole run. Ingest is idempotent: a paper's content hash (its metadata and text,
the chunking settings and the model) decides whether it is rewritten, its text
hash whether it is re-embedded. An interrupted ingest keeps every batch it
finished, never leaves a half-written paper (see Store.add), and the next run
reads again the files whose manifest entry it had not yet written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from .chunking import chunk_paper
from .errors import SourceError
from .sentences import split_sentences
from .sources import ParseReport, detect_format
from .sources.merge import merge_papers, paper_keys
from .store import FileEntry, Prepared, Store, StoredPaper, dumps_paper
from .types import Paper

Progress = Callable[[int, int, str], None]  # (done, total, message)
Embed = Callable[[list[str]], "object"]  # texts -> (n, dim) unit vectors

BATCH_PAPERS = 256  # papers parsed, embedded and written together: bounds memory
# File bytes per character of paper text (markup, ids, dates): the first guess of a
# file's paper count for the progress bar, replaced by what finished files show.
TEXT_OVERHEAD = 1.3
CONFLICT = (
    "{title!r} has the same title as another paper but a different DOI or arXiv id; kept the first"
)


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    format: str | None = None
    papers: int = 0  # distinct papers in the file
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)  # entries without abstract
    problems: list[str] = field(default_factory=list)  # malformed entries (file:line: ...)
    error: str | None = None  # the whole file was rejected

    @property
    def status(self) -> str:
        if self.error:
            return "rejected"
        if self.added or self.updated:
            return "added" if self.added and not self.updated else "updated"
        return "unchanged"


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded_texts: int = 0  # chunks and sentences embedded (0 when nothing changed)
    seconds: float = 0.0

    @property
    def rejected(self) -> list[FileResult]:
        return [f for f in self.files if f.error]

    def summary(self) -> str:
        skipped = sum(len(f.skipped) for f in self.files)
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.unchanged} unchanged"]
        if self.removed:
            parts.append(f"{self.removed} removed")
        if skipped:
            parts.append(f"{skipped} skipped without abstract")
        if self.rejected:
            parts.append(f"{len(self.rejected)} file(s) rejected")
        return (
            f"papers: {', '.join(parts)} in {self.seconds:.1f} s "
            f"({self.embedded_texts} texts embedded)"
        )


def content_hash(paper: Paper, settings: str) -> str:
    """Fingerprint of everything that goes into a paper's stored form."""
    return hashlib.sha1((settings + "\n" + dumps_paper(paper)).encode("utf-8")).hexdigest()


def text_hash(paper: Paper, settings: str) -> str:
    """Fingerprint of what is embedded: chunks and sentences come from title and abstract.

    >>> a = Paper.create("T", "A.", sources=("x.bib",))
    >>> text_hash(a, "s") == text_hash(dataclasses.replace(a, sources=("y.bib",)), "s")
    True
    """
    return hashlib.sha1("\n".join((settings, paper.title, paper.abstract)).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus the files inside named directories (sorted, no hidden),
    each once."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")
            )
        else:
            out.append(path)
    seen: set[Path] = set()
    unique = []
    for path in out:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def prepare(paper: Paper, settings: str, chunk_size: int, chunk_overlap: int) -> Prepared:
    return Prepared(
        paper=paper,
        content_hash=content_hash(paper, settings),
        text_hash=text_hash(paper, settings),
        chunks=chunk_paper(paper, chunk_size, chunk_overlap),
        sentences=[paper.title, *split_sentences(paper.abstract)],
        keys=_strong_keys(paper),
    )


def combine(
    old: Paper | None, copies: list[Paper], source: str, first_in_file: bool
) -> list[Paper]:
    """The paper to store for new copies of a stored one (first), then conflicting copies.

    A stored paper is merged with the new copies, unless this file already contributed
    to it in an earlier ingest: then the file's new copy takes the place of its old
    one (a corrected abstract must not lose to the stale copy it corrects).

    >>> old = Paper.create("T", "Old text.", sources=("a.bib",))
    >>> combine(old, [Paper.create("T", "New text.", sources=("a.bib",))], "a.bib", True)[0].abstract
    'New text.'
    >>> combine(old, [Paper.create("T", "New text.", sources=("b.bib",))], "b.bib", True)[0].abstract
    'Old text.'
    """
    if old is None:
        return merge_papers(copies)
    if not first_in_file or source not in old.sources:
        return merge_papers([old, *copies])
    others = [] if old.sources == (source,) else [old]
    merged = merge_papers([*copies, *others])
    merged[0] = dataclasses.replace(merged[0], paper_id=old.paper_id, title=old.title)
    return merged


def _strong_keys(paper: Paper) -> tuple[tuple[str, str], ...]:
    """DOI and arXiv identities (the title one is the paper id itself)."""
    return tuple(key for key in paper_keys(paper) if key[0] != "title")


def run(
    store: Store,
    embed: Embed,
    paths: Sequence[Path],
    settings: str,
    chunk_size: int,
    chunk_overlap: int,
    progress: Progress | None = None,
    prune: bool = False,
) -> IngestReport:
    """Bring the store in line with the files (see the module docstring)."""
    started = time.perf_counter()
    job = _Run(store, embed, settings, chunk_size, chunk_overlap)
    to_read = job.check(expand_paths(paths))
    job.progress = _Estimate(progress, [stat.st_size for *_, stat in to_read])
    for item in to_read:
        job.read(*item, prune=prune)
        job.progress.file_done()
    if prune:
        job.prune()
    job.progress.finish()
    return job.finish(time.perf_counter() - started)


def run_papers(
    store: Store,
    embed: Embed,
    papers: Sequence[Paper],
    settings: str,
    chunk_size: int,
    chunk_overlap: int,
    progress: Progress | None = None,
) -> IngestReport:
    """Make the store hold exactly these papers, as given: their ids kept, none merged
    with another (by title, DOI or arXiv id), stored papers not among them removed.

    For a benchmark corpus: its relevance judgements name its own document ids, and
    distinct documents may share a title. Files go through `run`, which merges copies.
    As there, only papers whose content hash changed are rewritten, and only those
    whose text changed are embedded again.
    """
    started = time.perf_counter()
    ids: set[str] = set()
    for paper in papers:
        if paper.paper_id in ids:
            raise ValueError(f"paper id {paper.paper_id!r} is given twice")
        ids.add(paper.paper_id)
    job = _Run(store, embed, settings, chunk_size, chunk_overlap)
    for start in range(0, len(papers), BATCH_PAPERS):
        job.given(papers[start : start + BATCH_PAPERS])
        if progress:
            progress(min(start + BATCH_PAPERS, len(papers)), len(papers), "papers")
    gone = sorted(set(store.papers()) - ids)
    store.delete_papers(gone)
    job.report.removed = len(gone)
    return job.finish(time.perf_counter() - started)


class _Run:
    """The state of one ingest: what it changed, by paper id (compact at any size)."""

    def __init__(self, store: Store, embed: Embed, settings: str, size: int, overlap: int):
        self.store, self.embed, self.settings = store, embed, settings
        self.chunking = (size, overlap)
        self.report = IngestReport()
        self.added: set[str] = set()
        self.updated: set[str] = set()
        self.seen: set[str] = set()
        self.manifest = store.files()
        self.progress = _Estimate(None, [])

    def prepare(self, paper: Paper) -> Prepared:
        return prepare(paper, self.settings, *self.chunking)

    # ------------------------------------------------------------------ files
    def check(self, paths: Sequence[Path]) -> list[tuple]:
        """Report unchanged files from the manifest; return the files to read."""
        to_read = []
        for path in paths:
            result = FileResult(path=str(path))
            self.report.files.append(result)
            try:
                module = detect_format(path)
                stat = path.stat()
                digest = file_sha256(path)
            except SourceError as exc:
                result.error = exc.problem
                continue
            except OSError as exc:
                result.error = f"cannot read the file ({exc.strerror or exc})"
                continue
            result.format = module.NAME
            entry = self.manifest.get(str(path.resolve()))
            if entry and self._unchanged(entry, digest):
                result.papers = result.unchanged = len(entry.paper_ids)
                result.skipped, result.problems = list(entry.skipped), list(entry.problems)
                self.seen.update(entry.paper_ids)
                continue
            to_read.append((path, module, result, entry, digest, stat))
        return to_read

    def _unchanged(self, entry: FileEntry, digest: str) -> bool:
        if entry.sha256 != digest or entry.settings != self.settings:
            return False
        # Cheap insurance: the entry promises every paper is stored; check it.
        return len(self.store.present(entry.paper_ids)) == len(set(entry.paper_ids))

    def read(self, path: Path, module: ModuleType, result: FileResult, old: FileEntry | None,
             digest: str, stat, prune: bool) -> None:  # fmt: skip
        parse_report = ParseReport()
        in_file: set[str] = set()
        batch: list[Paper] = []
        try:
            for paper in module.parse(path, parse_report):
                batch.append(paper)
                if len(batch) >= BATCH_PAPERS:
                    self.batch(batch, result, in_file)
                    batch = []
            self.batch(batch, result, in_file)
        except SourceError as exc:
            result.error = exc.problem  # what was stored stays; no manifest entry
            return
        result.papers = len(in_file)
        result.skipped = parse_report.skipped
        result.problems = [str(p) for p in parse_report.problems] + result.problems
        if not in_file and not parse_report.skipped:
            result.error = "no papers found in the file"
            return
        key = str(path.resolve())
        stale = set(old.paper_ids) | set(old.stale_ids) if old else set()
        stale -= in_file
        if prune and stale:
            self.drop_source(path.name, stale, exclude=key)
            stale = set()
        entry = FileEntry(
            path=key, sha256=digest, size=stat.st_size, mtime=stat.st_mtime,
            format=module.NAME, settings=self.settings,
            paper_ids=tuple(sorted(in_file)), stale_ids=tuple(sorted(stale)),
            skipped=tuple(result.skipped), problems=tuple(result.problems),
        )  # fmt: skip
        self.store.put_file(entry)
        self.manifest[key] = entry

    # ---------------------------------------------------------------- papers
    def batch(self, copies: list[Paper], result: FileResult, in_file: set[str]) -> None:
        """Merge a batch of parsed copies with each other and the store, then write."""
        if not copies:
            return
        merged = [(p, _strong_keys(p)) for p in merge_papers(copies)]
        stored = self.store.lookup(
            (p.paper_id for p, _ in merged), (key for _, keys in merged for key in keys)
        )
        by_key = {key: s.paper.paper_id for s in stored.values() for key in s.keys}
        groups: dict[str, list[Paper]] = {}
        for paper, keys in merged:
            target = next((by_key[k] for k in keys if k in by_key), paper.paper_id)
            groups.setdefault(target, []).append(paper)
        pending: list[tuple[Prepared, StoredPaper | None]] = []
        for target, group in groups.items():
            old = stored.get(target)
            source = Path(result.path).name
            paper, *conflicts = combine(
                old.paper if old else None, group, source, target not in in_file
            )
            result.problems.extend(
                f"{result.path}: " + CONFLICT.format(title=c.title) for c in conflicts
            )
            item = self.prepare(paper)
            pid = paper.paper_id
            changed = old is None or old.content_hash != item.content_hash
            if old is None:
                self.added.add(pid)
            elif changed and pid not in self.added:
                self.updated.add(pid)
            if changed:
                pending.append((item, old))
            self.seen.add(pid)
            if pid not in in_file:
                in_file.add(pid)
                if pid in self.added:
                    result.added += 1
                elif changed:
                    result.updated += 1
                else:
                    result.unchanged += 1
        self.write(pending)
        self.progress.advance(copies)

    def given(self, papers: Sequence[Paper]) -> None:
        """Store a batch of papers as they are, matched with the store by id alone."""
        stored = self.store.lookup(p.paper_id for p in papers)
        pending: list[tuple[Prepared, StoredPaper | None]] = []
        for paper in papers:
            pid, old = paper.paper_id, stored.get(paper.paper_id)
            self.seen.add(pid)
            if old is not None and old.content_hash == content_hash(paper, self.settings):
                continue  # unchanged: not even chunked
            (self.added if old is None else self.updated).add(pid)
            pending.append((self.prepare(paper), old))
        self.write(pending)

    def write(self, pending: Sequence[tuple[Prepared, StoredPaper | None]]) -> None:
        """Embed what has new text; rewrite only the metadata of the rest."""
        embed, update = [], []
        for item, old in pending:
            same_text = old and old.text_hash == item.text_hash and old.n_chunks == len(item.chunks)
            (update if same_text else embed).append(item)
        if embed:
            chunk_texts = [c.text for item in embed for c in item.chunks]
            sentence_texts = [s for item in embed for s in item.sentences]
            vectors = self.embed(chunk_texts + sentence_texts)
            self.store.add(embed, vectors[: len(chunk_texts)], vectors[len(chunk_texts) :])
            self.report.embedded_texts += len(chunk_texts) + len(sentence_texts)
        if update:
            self.store.update_metadata(update)

    # ----------------------------------------------------------------- prune
    def prune(self) -> None:
        """Forget deleted files, and drop their name from papers no file holds any more."""
        for key, entry in list(self.manifest.items()):
            if not Path(key).exists():
                self.drop_source(entry.name, {*entry.paper_ids, *entry.stale_ids}, exclude=key)
                self.store.delete_files([key])
                del self.manifest[key]
        for key, entry in list(self.manifest.items()):
            if entry.stale_ids:
                self.drop_source(entry.name, set(entry.stale_ids), exclude=key)
                current = self.store.files().get(key, entry)
                self.manifest[key] = dataclasses.replace(current, stale_ids=())
                self.store.put_file(self.manifest[key])

    def drop_source(self, name: str, paper_ids: set[str], exclude: str) -> None:
        """Remove source `name` from these papers, unless another live file of that name
        holds them; a paper left with no source is removed from the library."""
        for key, entry in self.manifest.items():
            if key != exclude and entry.name == name and Path(key).exists():
                paper_ids = paper_ids - set(entry.paper_ids)
        ids = sorted(paper_ids)
        for start in range(0, len(ids), BATCH_PAPERS):
            stored = self.store.lookup(ids[start : start + BATCH_PAPERS])
            gone, pending = [], []
            for pid, old in stored.items():
                if name not in old.paper.sources:
                    continue
                sources = tuple(s for s in old.paper.sources if s != name)
                if sources:
                    pending.append(
                        (self.prepare(dataclasses.replace(old.paper, sources=sources)), old)
                    )
                else:
                    gone.append(pid)
            self.store.delete_papers(gone)
            self.write(pending)
            self.report.removed += len(gone)
            self.seen.difference_update(gone)

    def finish(self, seconds: float) -> IngestReport:
        report = self.report
        report.added = len(self.added)
        report.updated = len(self.updated)
        report.unchanged = len(self.seen - self.added - self.updated)
        report.seconds = seconds
        return report


class _Estimate:
    """Papers read so far and an estimate of the total, for a progress bar with an ETA.

    A file's paper count is known once it has been read; until then it is its size
    divided by the bytes per paper seen so far.
    """

    def __init__(self, callback: Progress | None, sizes: list[int]) -> None:
        self.callback, self.sizes = callback, sizes
        self.done = self.current = self.text_chars = 0
        self.finished_bytes = self.finished_papers = self.index = 0

    def advance(self, papers: Sequence[Paper]) -> None:
        self.done += len(papers)
        self.current += len(papers)
        self.text_chars += sum(len(p.title) + len(p.abstract) + 2 for p in papers)
        if self.callback:
            self.callback(self.done, self.total(), "papers")

    def file_done(self) -> None:
        if self.index < len(self.sizes):
            self.finished_bytes += self.sizes[self.index]
        self.finished_papers += self.current
        self.current = 0
        self.index += 1

    def total(self) -> int:
        if self.finished_papers:
            per_paper = self.finished_bytes / self.finished_papers
        else:
            per_paper = TEXT_OVERHEAD * self.text_chars / max(self.done, 1)
        remaining = self.sizes[self.index :]
        if not remaining or per_paper <= 0:
            return self.done
        guess = [round(size / per_paper) for size in remaining]
        guess[0] = max(guess[0], self.current)
        return max(self.done, self.finished_papers + sum(guess))

    def finish(self) -> None:
        if self.callback and self.done:
            self.callback(self.done, self.done, "papers")
