"""Incremental ingest: the real embedding model and a real Chroma store in tmp_path.

Small BibTeX / JSON-lines libraries are written per test, so each shows exactly which
papers are new, changed, merged, pruned or untouched, and how many texts that cost.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import DATA, RAG, ROOT, run_rag

from rag import ingest as ingesting
from rag.config import Config
from rag.engine import Engine
from rag.sources import ParseReport, parse_file
from rag.sources.merge import merge_papers

TRANSFORMER = (
    "The dominant sequence transduction models are based on complex recurrent networks. "
    "We propose the Transformer, based solely on attention mechanisms. "
    "It reaches 28.4 BLEU on the WMT 2014 English-to-German translation task."
)
SMOOTHING = (
    "Label smoothing replaces hard targets with a weighted average of hard targets and "
    "the uniform distribution. It improves calibration by five percent on average."
)
DIFFUSION = (
    "We present image synthesis results using diffusion probabilistic models. "
    "Our best results come from training on a weighted variational bound."
)
# A scraped copy: the paper's introduction glued onto the abstract (see merge.choose_abstract).
DIRTY = (
    TRANSFORMER + " 1 Introduction Recurrent neural networks [1, 2] have been firmly established."
)


def bib(*entries: str) -> str:
    return "\n\n".join(entries) + "\n"


def entry(
    key: str, title: str, abstract: str | None, doi: str | None = None, year: int = 2020
) -> str:
    lines = [f"@article{{{key},", f"  title = {{{title}}},", "  author = {Lee, Ann and Li, Bo},",
             f"  year = {{{year}}},"]  # fmt: skip
    if doi:
        lines.append(f"  doi = {{{doi}}},")
    if abstract:
        lines.append(f"  abstract = {{{abstract}}},")
    return "\n".join(lines) + "\n}"


ATTENTION = entry(
    "vaswani", "Attention Is All You Need", TRANSFORMER, doi="10.48550/arXiv.1706.03762", year=2017
)
LABELS = entry("muller", "When does label smoothing help?", SMOOTHING, year=2019)
DDPM = entry("ho", "Denoising Diffusion Probabilistic Models", DIFFUSION, year=2020)


@pytest.fixture
def make_engine(embedder):
    def make(store: Path) -> Engine:
        return Engine(Config.from_env({}, store=store), embedder=embedder)

    return make


@pytest.fixture
def library(tmp_path, make_engine):
    """A folder of BibTeX files and an engine over an empty store in tmp_path."""
    folder = tmp_path / "papers"
    folder.mkdir()
    return folder, make_engine(tmp_path / "store")


def texts_of(engine: Engine, *papers) -> int:
    """How many texts (chunks + sentences) embedding these papers costs."""
    c = engine.config
    items = [
        ingesting.prepare(p, engine.settings_fingerprint, c.chunk_size, c.chunk_overlap)
        for p in papers
    ]
    return sum(len(i.chunks) + len(i.sentences) for i in items)


def by_title(engine: Engine) -> dict:
    return {p.title: p for p in engine.papers()}


# ---------------------------------------------------------------- the library


def test_reingesting_the_unchanged_library_embeds_nothing(library_copy, make_engine):
    engine = make_engine(library_copy)
    before = engine.papers()

    report = engine.ingest()

    assert report.embedded_texts == 0
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    assert report.unchanged == len(before) > 400
    assert [f.status for f in report.files] == ["unchanged"] * len(list(DATA.iterdir()))
    assert all(f.unchanged == f.papers > 0 for f in report.files)
    assert engine.papers() == before


def test_the_cli_reports_zero_embeddings_on_an_unchanged_library(library_copy):
    result = run_rag("ingest", "--store", str(library_copy), check=True)

    summary = result.stdout.strip().splitlines()[-1]
    assert re.match(
        r"papers: 0 added, 0 updated, \d+ unchanged in [\d.]+ s \(0 texts embedded\)", summary
    )


# ------------------------------------------------------------ incremental sync


def test_an_unchanged_file_is_not_parsed_again(library):
    folder, engine = library
    path = folder / "a.bib"
    path.write_text(bib(ATTENTION, entry("empty", "A paper without abstract", None)))
    first = engine.ingest([path]).files[0]
    assert first.skipped == ["A paper without abstract"]

    # The report of an unchanged file comes from its manifest entry, not from parsing:
    # a marker planted in the entry shows up, and nothing is embedded.
    ((key, manifest),) = engine.store.files().items()
    assert key == str(path.resolve()) and manifest.paper_ids == (
        by_title(engine)["Attention Is All You Need"].paper_id,
    )
    engine.store.put_file(dataclasses.replace(manifest, skipped=("planted marker",)))
    again = engine.ingest([path])
    assert again.files[0].skipped == ["planted marker"] and again.embedded_texts == 0

    path.write_text(path.read_text() + "\n" + LABELS + "\n")  # the file changes: read again
    changed = engine.ingest([path])
    assert changed.files[0].skipped == ["A paper without abstract"]
    assert (changed.added, changed.unchanged) == (1, 1)
    assert changed.embedded_texts == texts_of(
        engine, by_title(engine)["When does label smoothing help?"]
    )


def test_only_new_or_changed_text_is_embedded(library):
    folder, engine = library
    path = folder / "a.bib"
    path.write_text(bib(ATTENTION, LABELS))
    first = engine.ingest([path])
    assert first.added == 2 and first.embedded_texts == texts_of(engine, *engine.papers())

    path.write_text(bib(ATTENTION, LABELS.replace("five percent", "six percent")))
    text_changed = engine.ingest([path])
    smoothing = by_title(engine)["When does label smoothing help?"]
    assert "six percent" in smoothing.abstract
    assert (text_changed.updated, text_changed.unchanged) == (1, 1)
    assert text_changed.embedded_texts == texts_of(engine, smoothing)

    path.write_text(
        bib(ATTENTION.replace("2017", "2018"), LABELS.replace("five percent", "six percent"))
    )
    metadata_changed = engine.ingest([path])
    assert by_title(engine)["Attention Is All You Need"].year == 2018
    assert metadata_changed.updated == 1 and metadata_changed.embedded_texts == 0


def test_copies_in_two_files_are_merged_and_a_known_paper_costs_no_embedding(library):
    folder, engine = library
    (folder / "a.bib").write_text(bib(ATTENTION, LABELS))
    engine.ingest([folder / "a.bib"])

    # The same work under another title, matched by its DOI, plus one new paper.
    retitled = ATTENTION.replace("Attention Is All You Need", "Attention is all you need (v5)")
    (folder / "b.bib").write_text(bib(retitled, DDPM))
    report = engine.ingest([folder / "b.bib"])

    papers = by_title(engine)
    assert len(papers) == 3
    assert papers["Attention Is All You Need"].sources == ("a.bib", "b.bib")
    assert report.files[0].added == 1 and report.files[0].updated == 1
    assert report.embedded_texts == texts_of(
        engine, papers["Denoising Diffusion Probabilistic Models"]
    )


def test_a_stored_scraped_abstract_gives_way_to_a_clean_copy(library):
    folder, engine = library
    (folder / "scraped.bib").write_text(bib(ATTENTION.replace(TRANSFORMER, DIRTY)))
    engine.ingest([folder / "scraped.bib"])
    assert "Introduction" in by_title(engine)["Attention Is All You Need"].abstract

    (folder / "clean.bib").write_text(bib(ATTENTION))
    report = engine.ingest([folder / "clean.bib"])

    paper = by_title(engine)["Attention Is All You Need"]
    assert paper.abstract == TRANSFORMER and paper.sources == ("clean.bib", "scraped.bib")
    assert report.updated == 1 and report.embedded_texts == texts_of(engine, paper)
    answer_sentences = engine.store.sentences([paper.paper_id])[paper.paper_id][0]
    assert not any("Introduction" in s for s in answer_sentences)


def test_prune_removes_papers_that_no_source_file_holds(library):
    folder, engine = library
    (folder / "a.bib").write_text(bib(ATTENTION, LABELS))
    (folder / "b.bib").write_text(bib(LABELS, DDPM))
    engine.ingest([folder])

    (folder / "a.bib").unlink()
    kept = engine.ingest([folder])
    assert kept.removed == 0 and len(engine.papers()) == 3  # without --prune nothing goes

    pruned = engine.ingest([folder], prune=True)
    papers = by_title(engine)
    assert pruned.removed == 1 and pruned.embedded_texts == 0
    assert set(papers) == {
        "When does label smoothing help?",
        "Denoising Diffusion Probabilistic Models",
    }
    assert papers["When does label smoothing help?"].sources == ("b.bib",)
    assert [Path(p).name for p in engine.store.files()] == ["b.bib"]

    # An entry deleted from a file that stays: kept until a --prune run, then removed.
    (folder / "b.bib").write_text(bib(LABELS))
    assert engine.ingest([folder]).removed == 0 and len(engine.papers()) == 2
    assert engine.ingest([folder], prune=True).removed == 1
    assert set(by_title(engine)) == {"When does label smoothing help?"}


def test_a_removed_paper_comes_back_alone_when_its_file_is_ingested(library):
    folder, engine = library
    (folder / "a.bib").write_text(bib(ATTENTION, LABELS))
    engine.ingest([folder])
    attention = by_title(engine)["Attention Is All You Need"]

    assert engine.remove([attention.paper_id]) == [attention.paper_id]
    assert set(by_title(engine)) == {"When does label smoothing help?"}

    report = engine.ingest([folder])
    assert (report.added, report.unchanged) == (1, 1)
    assert report.embedded_texts == texts_of(engine, attention)
    assert by_title(engine)["Attention Is All You Need"] == attention


def test_rebuild_starts_from_scratch(library):
    folder, engine = library
    (folder / "a.bib").write_text(bib(ATTENTION, LABELS))
    engine.ingest([folder])

    report = engine.ingest([folder], rebuild=True)

    assert report.added == 2 and report.embedded_texts == texts_of(engine, *engine.papers())
    assert len(engine.store.files()) == 1


def test_progress_counts_papers_up_to_its_total(library):
    folder, engine = library
    (folder / "a.bib").write_text(bib(ATTENTION, LABELS))
    (folder / "b.bib").write_text(bib(DDPM))
    calls = []
    engine.ingest([folder], progress=lambda done, total, message: calls.append((done, total)))

    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1] == (3, 3)
    assert all(d <= t for d, t in calls)


# ------------------------------------------------------------------ interrupts


def test_an_interrupted_ingest_is_completed_by_the_next_run(
    library, embedder, make_engine, tmp_path
):
    folder, engine = library
    (folder / "1.bib").write_text(bib(ATTENTION))
    (folder / "2.bib").write_text(bib(LABELS, ATTENTION))
    (folder / "3.bib").write_text(bib(DDPM))
    calls = []

    def interrupted(texts):  # Ctrl-C while the second batch is being embedded
        if calls:
            raise KeyboardInterrupt
        calls.append(len(texts))
        return embedder.embed(texts)

    c = engine.config
    with pytest.raises(KeyboardInterrupt):
        ingesting.run(
            engine.store,
            interrupted,
            [folder],
            engine.settings_fingerprint,
            c.chunk_size,
            c.chunk_overlap,
        )
    assert [Path(p).name for p in engine.store.files()] == ["1.bib"]  # written after its papers
    assert set(by_title(engine)) == {"Attention Is All You Need"}

    report = engine.ingest([folder])
    assert [(f.added, f.updated, f.unchanged) for f in report.files] == [
        (0, 0, 1),
        (1, 1, 0),
        (1, 0, 0),
    ]

    fresh = make_engine(tmp_path / "fresh")
    fresh.ingest([folder])
    assert engine.papers() == fresh.papers()
    assert engine.store.count_chunks() == fresh.store.count_chunks()


def _jsonl_library(folder: Path, files: int, per_file: int) -> list:
    """Real papers from a bundled listing page, spread over JSON-lines files."""
    papers = list(parse_file(DATA / "003_f6ffb6e0642b9b19.txt", ParseReport()))[: files * per_file]
    for i in range(files):
        rows = papers[i * per_file : (i + 1) * per_file]
        lines = [
            json.dumps({"title": p.title, "abstract": p.abstract, "authors": list(p.authors)})
            for p in rows
        ]
        (folder / f"part{i}.jsonl").write_text("\n".join(lines) + "\n")
    return merge_papers(papers)


def test_a_killed_ingest_leaves_a_consistent_store(tmp_path, make_engine):
    folder = tmp_path / "papers"
    folder.mkdir()
    papers = _jsonl_library(folder, files=4, per_file=12)
    expected = sorted(p.paper_id for p in papers)
    store = tmp_path / "store"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*RAG, "ingest", "--store", str(store), str(folder)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    seen: list[str] = []
    reader = threading.Thread(
        target=lambda: seen.extend(iter(lambda: proc.stderr.read(1), "")), daemon=True
    )
    reader.start()
    deadline = time.monotonic() + 600  # a bound, not an assertion: the machine may be busy
    while time.monotonic() < deadline and proc.poll() is None:
        done = [int(n) for n in re.findall(r"papers:[^|\r]*\|[^|\r]*\|\s*(\d+)/", "".join(seen))]
        if done and max(done) >= 12:  # at least the first file's papers are stored
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)

    second = run_rag("ingest", "--store", str(store), str(folder), check=True)
    embedded = int(re.search(r"\((\d+) texts embedded\)", second.stdout).group(1))
    listed = json.loads(run_rag("papers", "--json", "--store", str(store), check=True).stdout)
    assert sorted(p["paper_id"] for p in listed) == expected
    third = run_rag("ingest", "--store", str(store), str(folder), check=True)
    assert "(0 texts embedded)" in third.stdout
    assert 0 < embedded < texts_of(make_engine(tmp_path / "unused"), *papers)  # work was kept


# ------------------------------------------------------------------ bad input


def test_a_file_in_no_known_format_is_rejected_with_the_supported_formats(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Shopping list\n\neggs, milk, flour\n")

    result = run_rag("ingest", "--store", str(tmp_path / "store"), str(notes))

    assert result.returncode == 1
    assert (
        f"error: {notes}: unknown format; supported formats: BibTeX (.bib), arXiv metadata JSON lines"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_verbose_lists_entries_skipped_for_having_no_abstract(tmp_path):
    scholar = ROOT / "tests" / "fixtures" / "formats" / "scholar.bib"

    result = run_rag("ingest", "-v", "--store", str(tmp_path / "store"), str(scholar), check=True)

    assert "  skipped (no abstract): Deep residual learning for image recognition" in result.stdout
    assert "1 papers (1 added, 0 updated, 0 unchanged, 1 skipped without abstract)" in result.stdout
    assert "1 added, 0 updated, 0 unchanged, 1 skipped without abstract in" in result.stdout
