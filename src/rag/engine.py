"""Wires the parts once. Every front end (CLI, UI, eval) calls this and nothing else.

    engine = Engine(Config.from_env())
    engine.ingest([Path("data")])
    answer = engine.ask("Which method crafts universal perturbations without data?")

One engine is shared by all UI sessions: queries read an immutable snapshot of
the library (catalog, author index, keyword index), and an ingest builds a new
snapshot and swaps it in, so a query in flight never sees a half-built index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from . import filters as filtering
from . import ingest as ingesting
from . import library_index
from .answer import Answerer
from .answer.extractive import ExtractiveAnswerer
from .answer.followup import Turn
from .answer.generative import GenerativeAnswerer
from .authors import AuthorIndex
from .config import Config
from .embedding import Embedder, shared_embedder
from .errors import EmptyStoreError, InputError, LLMError, NoMatchError, StoreError
from .glossary import Glossary
from .keyword import KeywordIndex, TermTable
from .query import HAS_WORD, QueryPlan, analyse, only_stop_words, plan_of
from .retrieval import Retriever
from .store import Store, remove_store_files
from .tuning import Tuning
from .types import Answer, Filters, Hit, Paper

T = TypeVar("T")

Event = str | Answer  # ask_stream yields text pieces, then the final Answer
LISTING_MAX = 50  # most papers a filter-only question lists, newest first


@dataclass(frozen=True)
class Snapshot:
    catalog: dict[str, Paper]
    authors: AuthorIndex
    categories: frozenset[str]
    retriever: Retriever | None  # None while the store is empty
    glossary: Glossary  # abbreviations the library defines (RLHF), for the name check


@dataclass(frozen=True)
class Retrieval:
    """What retrieval did for a question: the hits, and the plan they were found by."""

    hits: list[Hit]
    plan: QueryPlan
    latency_s: float
    notes: list[str] = field(default_factory=list)
    listing: bool = False  # every paper the filters (or a follow-up's papers) allow

    @property
    def query(self) -> str:
        """The text actually searched (filters and follow-up applied)."""
        return self.plan.search_text

    @property
    def filters(self) -> Filters:
        return self.plan.filters

    @property
    def list_question(self) -> bool:
        return self.listing or self.plan.list_question


class Engine:
    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        self.embedder = embedder or shared_embedder(
            config.embed_model, config.embed_batch_size, config.models_dir
        )
        self._store: Store | None = None
        self._snapshot: Snapshot | None = None
        # Where the last snapshot came from: "saved index", "store" (read whole), or
        # "update" (the previous index with the papers a write touched read again).
        self.opened_from = ""
        self._saved: tuple[str, library_index.Saved] | None = None  # and its generation
        self.tuning = Tuning.load(config.tuning)
        self._write_lock = threading.Lock()
        self._open_lock = threading.RLock()
        # Chat models by backend, loaded once: an in-process GGUF takes seconds to load.
        self._chat_models: dict[str, object] = {}
        self._model_lock = threading.Lock()

    # ------------------------------------------------------------------ state
    @property
    def store(self) -> Store:
        if self._store is None:
            with self._open_lock:
                if self._store is None:
                    self._store = Store(
                        self.config.store,
                        self.embedder.name,
                        lambda: self.embedder.dim,  # loads the model: after connecting
                        collection=self.config.collection,
                        url=self.config.chroma_url,
                    )
        return self._store

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            with self._open_lock:
                if self._snapshot is None:
                    self._snapshot = self._build_snapshot()
        return self._snapshot

    def _build_snapshot(
        self, reuse: bool = True, update: tuple[library_index.Saved, set[str]] | None = None
    ) -> Snapshot:
        """The snapshot of the store: loaded from the saved library index when it was
        saved for the store's current content (library_index.py), else built from the
        store and saved for the next process. `reuse=False` after a write of our own;
        `update`: the index from before that write and the papers it touched, so that
        only those are read again (library_index.updated)."""
        store = self.store
        directory = self._index_dir()
        generation, chunks = store.generation(), store.count_chunks()
        saved = library_index.load(directory, generation, chunks) if reuse and chunks else None
        self.opened_from = "saved index" if saved is not None else "store"
        if saved is None and update is not None and generation and chunks:
            updated = library_index.updated(*update, store)
            if len(updated.keyword) == chunks:  # else the store moved on: read it whole
                saved, self.opened_from = updated, "update"
                library_index.save(directory, generation, chunks, saved)
        if saved is None:
            catalog = {pid: paper for pid, (paper, _) in store.papers().items()}
            if catalog:
                keyword = KeywordIndex(store.chunks())
                terms = TermTable(keyword.terms_of, {p: c.text for p, c in catalog.items()})
                glossary = Glossary(p.text for p in catalog.values())
                saved = library_index.Saved(catalog, keyword, terms, glossary)
                generation = generation or store.new_generation()
                library_index.save(directory, generation, chunks, saved)
        self._saved = (generation, saved) if saved is not None and generation else None
        if saved is None:
            return Snapshot({}, AuthorIndex({}), frozenset(), None, Glossary())
        store.check_index()  # a damaged vector index fails here, not silently
        catalog = saved.catalog
        retriever = Retriever(
            store,
            self.embedder,
            catalog,
            self.config.cross_encoder,
            self.tuning.retrieval,
            keyword=saved.keyword,
            terms=saved.terms,
        )
        return Snapshot(
            catalog=catalog,
            authors=AuthorIndex({pid: p.authors for pid, p in catalog.items()}),
            categories=frozenset(p.category for p in catalog.values() if p.category),
            retriever=retriever,
            glossary=saved.glossary,
        )

    def reload(self, from_store: bool = False) -> None:
        """Read the library again, as a new engine would (after another process wrote
        to the store); `from_store` reads it whole, ignoring the saved library index."""
        self._snapshot = self._build_snapshot(reuse=not from_store)

    def _changing(self, work: Callable[[], T], rebuild: bool = False) -> T:
        """Run a write and bring the snapshot up to date; returns what `work` returned.
        After a write that touched some papers the library index is updated for those
        alone, from the index of the store as it was before the write (the open
        snapshot's, or the saved one). It is read whole after a rebuild, when no index
        matched the store before the write, when the store's generation is not the one
        this write set last (another writer), or when the write touched over half the
        library (reading those papers one page of ids at a time would cost more)."""
        base = None if rebuild else self._index_now()
        if rebuild:
            self._reset_store()
        changes = self.store.record_changes()
        try:
            result = work()
        finally:
            self.store.stop_recording()
        changed = bool(changes.papers)
        if changed or rebuild or self._snapshot is None:
            update = None
            if (
                base is not None
                and changed
                and len(changes.papers) <= len(base.catalog) // 2
                and self.store.generation() == changes.token
            ):
                update = (base, changes.papers)
            self._snapshot = self._build_snapshot(reuse=not (changed or rebuild), update=update)
        return result

    def _index_now(self) -> library_index.Saved | None:
        """The library index of the store as it is now: the open snapshot's, or the
        saved one; None when neither was built from the store's current generation."""
        generation, chunks = self.store.generation(), self.store.count_chunks()
        if generation is None or not chunks:
            return None
        if self._saved is not None and self._saved[0] == generation:
            return self._saved[1]
        return library_index.load(self._index_dir(), generation, chunks)

    def _index_dir(self) -> Path:
        return library_index.index_dir(
            self.config.store, self.config.collection, self.config.chroma_url
        )

    @property
    def settings_fingerprint(self) -> str:
        c = self.config
        return f"model={self.embedder.name};chunk={c.chunk_size}/{c.chunk_overlap}"

    # ----------------------------------------------------------------- library
    def ingest(
        self,
        paths: Sequence[Path] | None = None,
        progress: ingesting.Progress | None = None,
        rebuild: bool = False,
        prune: bool = False,
    ) -> ingesting.IngestReport:
        """Add new and changed papers from files or folders (default: the data dir);
        prune: also remove papers that no source file holds any more."""
        paths = list(paths) if paths else [self.config.data_dir]
        return self._write(
            rebuild,
            lambda: ingesting.run(
                self.store,
                self.embedder.embed,
                paths,
                self.settings_fingerprint,
                self.config.chunk_size,
                self.config.chunk_overlap,
                progress,
                prune=prune,
            ),
        )

    def ingest_papers(
        self,
        papers: Sequence[Paper],
        progress: ingesting.Progress | None = None,
        rebuild: bool = False,
    ) -> ingesting.IngestReport:
        """Make the library hold exactly these papers, with their ids as given and none
        merged (a benchmark corpus, see ingest.run_papers); only new and changed text is
        embedded, and papers not among them are removed."""
        return self._write(
            rebuild,
            lambda: ingesting.run_papers(
                self.store,
                self.embedder.embed,
                papers,
                self.settings_fingerprint,
                self.config.chunk_size,
                self.config.chunk_overlap,
                progress,
            ),
        )

    def _write(
        self, rebuild: bool, work: Callable[[], ingesting.IngestReport]
    ) -> ingesting.IngestReport:
        """One write to the library, under the write lock (see _changing)."""
        with self._write_lock:
            report = self._changing(work, rebuild)
            # Questions are embedded without torch from now on (onnx_encoder.py);
            # a no-op once the model is exported.
            self.embedder.export_query_encoder()
        return report

    def _reset_store(self) -> None:
        """Empty the store for --rebuild, even one too damaged for Chroma to open or empty."""
        try:
            self.store.reset()
        except StoreError:
            if self.config.chroma_url:
                raise
            remove_store_files(self.config.store)
            self._store = None
            self.store.reset()

    def remove(self, paper_ids: Sequence[str]) -> list[str]:
        """Remove papers by id; returns the ids that were in the library."""
        with self._write_lock:
            known = [pid for pid in paper_ids if pid in self.snapshot.catalog]
            self._changing(lambda: self.store.delete_papers(known))
        return known

    def papers(self) -> list[Paper]:
        return sorted(self.snapshot.catalog.values(), key=lambda p: p.title.lower())

    def count(self) -> int:
        return len(self.snapshot.catalog)

    def paper(self, paper_id: str) -> Paper | None:
        """The stored paper with this id, or None."""
        return self.snapshot.catalog.get(paper_id)

    def facets(self) -> tuple[list[str], list[int]]:
        """The library's categories (sorted) and its papers' years (one per dated paper)."""
        snap = self.snapshot
        return sorted(snap.categories), [p.year for p in snap.catalog.values() if p.year]

    # ---------------------------------------------------------------- retrieval
    def retrieve(
        self,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
        prefer: Sequence[str] = (),
        read_filters: bool = True,
    ) -> Retrieval:
        """Validated question -> hits, with filters from flags and from the question;
        read_filters=False reads none from the question (a benchmark's queries: a claim
        about "methadone treatment in 2001" is not a request for papers from 2001)."""
        started = time.perf_counter()
        plan = self.plan(question, filters, read_filters)
        snap = self.snapshot
        active = plan.filters
        allowed, notes = self._allowed(active, snap)
        if prefer:
            allowed = set(prefer) if allowed is None else (allowed & set(prefer)) or allowed
        if allowed is not None and plan.no_topic:
            hits, more = self._listing(allowed, snap)
            elapsed = time.perf_counter() - started
            return Retrieval(hits, plan, elapsed, notes + more, listing=True)
        where = filtering.to_where(active, set(prefer) & allowed if prefer and allowed else allowed)
        hits = snap.retriever.search(
            plan.search_text,
            mode=mode or self.config.retriever,
            k=top_k or self.config.top_k,
            where=where,
            allowed=allowed,
            list_question=plan.list_question,
            topic=plan.topic_phrase if plan.list_question else None,
        )
        return Retrieval(hits, plan, time.perf_counter() - started, notes)

    def plan(
        self, question: str, filters: Filters | None = None, read_filters: bool = True
    ) -> QueryPlan:
        """The validated question's plan (query.analyse) in this library."""
        question = self.validate_question(question)
        snap = self.snapshot
        if snap.retriever is None:
            raise EmptyStoreError(
                f"the library at {self.store.location} is empty: run `rag ingest` first"
            )
        if read_filters:
            return analyse(question, snap.authors, snap.categories, filters)
        return plan_of(question, filters if filters is not None else Filters())

    @staticmethod
    def _listing(allowed: set[str], snap: Snapshot) -> tuple[list[Hit], list[str]]:
        """ "Papers by X", "papers from 2024": the papers the filters allow, newest first
        (then by title), as hits of equal score; at most LISTING_MAX, with a note."""
        papers = sorted(
            (snap.catalog[pid] for pid in allowed if pid in snap.catalog),
            key=lambda p: (-(p.year or 0), p.title.lower()),
        )
        shown = papers[:LISTING_MAX]
        hits = [Hit(paper=p, score=1.0, text=p.text, scores={"listed": 1.0}) for p in shown]
        if len(papers) <= LISTING_MAX:
            return hits, []
        return hits, [
            f"listing the {LISTING_MAX} newest of {len(papers)} papers: narrow the filters"
        ]

    def _allowed(self, active: Filters, snap: Snapshot) -> tuple[set[str] | None, list[str]]:
        """Paper ids the filters allow (None = no filter); raises when none match."""
        if not active:
            return None, []
        author_ids: set[str] | None = None
        for name in active.authors:
            ids = snap.authors.paper_ids(name)
            author_ids = ids if author_ids is None else author_ids & ids
        allowed = {
            pid for pid, p in snap.catalog.items() if filtering.allows(active, p, author_ids)
        }
        # Papers a year bound left out only because they have no year: said, never silent.
        undated = 0
        if active.has_years and not active.include_undated:
            widened = replace(active, include_undated=True)
            undated = sum(
                1
                for p in snap.catalog.values()
                if p.year is None and filtering.allows(widened, p, author_ids)
            )
        left_out = f"{undated} paper{'s' if undated != 1 else ''} without a year left out"
        if not allowed:
            raise NoMatchError(
                f"no paper in the library matches the filters ({active.describe()}): "
                + (f"{left_out}; include undated papers or " if undated else "")
                + "widen or remove them"
            )
        n = len(allowed)
        note = f"filtered by {active.describe()} ({n} paper{'s' if n != 1 else ''})"
        if undated:
            note += f"; {left_out} (include undated papers to search them too)"
        return allowed, [note]

    def validate_question(self, question: str) -> str:
        question = " ".join((question or "").split())
        if not question:
            raise InputError("the question is empty: ask something about the papers")
        if len(question) > self.config.max_question_chars:
            raise InputError(
                f"the question is {len(question):,} characters long; the limit is "
                f"{self.config.max_question_chars:,} (RAG_MAX_QUESTION_CHARS): shorten it"
            )
        if not HAS_WORD.search(question):
            raise InputError("the question has no words to search for: ask about a topic")
        if only_stop_words(question):
            raise InputError(
                f"the question has only common words ({question[:60]}): ask about a topic"
            )
        return question

    # ------------------------------------------------------------------ answers
    def ask(self, question: str, **kwargs) -> Answer:
        answer = None
        for event in self.ask_stream(question, **kwargs):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def ask_stream(
        self,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        llm: str | None = None,
        history: Sequence[Turn] = (),
        mode: str | None = None,
    ) -> Iterator[Event]:
        """Stream the answer's text pieces, then yield the checked Answer: the query
        engine's (llama.CitedQueryEngine), or with history the chat engine's, whose
        follow-ups are condensed against the earlier turns. Closing the iterator stops
        the answer and its LLM request."""
        from .llama import CitedChatEngine, CitedQueryEngine, LibraryQuery

        if history:
            chat = CitedChatEngine(self, llm, top_k, filters, mode, history=history)
            return chat.stream_events(question)
        query = LibraryQuery(question, top_k=top_k, filters=filters, mode=mode)
        return CitedQueryEngine(self, llm).stream(query)

    def chat_model(self, backend: str):
        """The chat model for a backend name and the warnings of loading it: None for
        the extractive backend, or when it failed to load (said in the warnings)."""
        if backend == "extractive":
            return None, []
        from .llms import get_chat_model

        with self._model_lock:
            try:
                if backend not in self._chat_models:
                    self._chat_models[backend] = get_chat_model(replace(self.config, llm=backend))
            except LLMError as exc:  # not kept: the server may be up next time
                return None, [f"{exc}; answered with the extractive backend instead"]
            return self._chat_models[backend], []

    def sentence_lookup(self) -> Callable:
        """The stored sentences and vectors of papers by id (none in an empty library)."""
        snap = self.snapshot
        return snap.retriever.sentences if snap.retriever else (lambda ids: {})

    # ---------------------------------------------------------- LlamaIndex
    def as_retriever(self, top_k: int | None = None, filters: Filters | None = None,
                     mode: str | None = None):  # fmt: skip
        """This library's retriever as a LlamaIndex BaseRetriever (one node per paper)."""
        from .llama import PaperRetriever

        return PaperRetriever(self, top_k, filters, mode)

    def as_query_engine(self, llm: str | None = None, top_k: int | None = None,
                        filters: Filters | None = None, mode: str | None = None,
                        streaming: bool = False, node_postprocessors: list | None = None):  # fmt: skip
        """Cited, checked answers as a LlamaIndex RetrieverQueryEngine (the library's
        retriever and answer synthesizer; Response objects)."""
        from .llama import CitedQueryEngine

        return CitedQueryEngine(self, llm, top_k, filters, mode, streaming, node_postprocessors)

    def as_reranker(self, top_n: int | None = None):
        """The second stage as a LlamaIndex node postprocessor, for another first stage."""
        from .llama import LibraryRerank

        return LibraryRerank(self, top_n)

    def as_synthesizer(self, llm: str | None = None, streaming: bool = False):
        """The answer stage as a LlamaIndex response synthesizer: cited, checked answers
        from the library papers among the nodes it is given."""
        from .llama import CitedSynthesizer

        return CitedSynthesizer(self, llm, streaming)

    def as_chat_engine(self, llm: str | None = None, top_k: int | None = None,
                       filters: Filters | None = None, mode: str | None = None):  # fmt: skip
        """A LlamaIndex chat engine over this library: follow-ups use the earlier turns."""
        from .llama import CitedChatEngine

        return CitedChatEngine(self, llm, top_k, filters, mode)

    def extractive_answerer(self, tuning: Tuning | None = None) -> ExtractiveAnswerer:
        """The offline answerer over this library (with another tuning, for fitting one)."""
        snap = self.snapshot
        if snap.retriever is None:
            raise EmptyStoreError(
                f"the library at {self.store.location} is empty: run `rag ingest` first"
            )
        return ExtractiveAnswerer(
            self.embedder.embed_one,
            snap.retriever.sentences,
            stats=snap.retriever.terms,
            glossary=snap.glossary,
            tuning=tuning or self.tuning,
        )

    def answerer(self, chat_model) -> tuple[Answerer, str]:
        """The answerer for a chat model (None: the extractive one) and its label."""
        if chat_model is None:
            return self.extractive_answerer(), "extractive"
        return GenerativeAnswerer(
            chat_model, self.embedder.embed_one, self.sentence_lookup()
        ), chat_model.name
