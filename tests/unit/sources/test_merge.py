"""De-duplication across the five bundled pages, and the choice of the clean abstract."""

from __future__ import annotations

from pathlib import Path

from rag.sources import ParseReport, parse_file
from rag.sources.merge import choose_abstract, merge_authors, merge_papers, noise_markers
from rag.types import Paper, normalise_title

DATA = Path(__file__).resolve().parents[3] / "data"
PAGES = sorted(DATA.glob("*.txt"))
PROFILE, COLLABORATORS = PAGES[0].name, PAGES[1].name
TOKEN_STATISTICS = (
    "Token Statistics Transformer: Linear-Time Attention via Variational Rate Reduction"
)
# 464 entries on the five pages. 25 papers appear on two or three pages (27 repeats),
# checked by hand: the 10 collaborator-page papers are all on the profile page, the
# other 15 repeat between the two search pages and the daily page. No two different
# titles are one paper: the two pairs with overlapping abstracts ("White-Box
# Transformers via Sparse Rate Reduction" and its ": Compression Is All There Is?"
# sequel; "ReduNet" and "Deep Networks from the Principle of Rate Reduction") are
# distinct arXiv papers with different dates.
UNIQUE_PAPERS = 437


def all_papers() -> list[Paper]:
    papers: list[Paper] = []
    for page in PAGES:
        papers.extend(parse_file(page, ParseReport()))
    return papers


def by_title(papers: list[Paper]) -> dict[str, Paper]:
    return {paper.title: paper for paper in papers}


def test_unique_papers_across_the_five_pages():
    papers = all_papers()
    merged = merge_papers(papers)
    assert len(papers) == 464
    assert len(merged) == UNIQUE_PAPERS
    assert len({normalise_title(p.title) for p in merged}) == UNIQUE_PAPERS
    assert len({p.paper_id for p in merged}) == UNIQUE_PAPERS
    shared = [p for p in merged if len(p.sources) > 1]
    assert len(shared) == 25 and sum(len(p.sources) == 3 for p in shared) == 2


def test_merge_keeps_first_appearance_order_and_unions_sources():
    papers = all_papers()
    merged = merge_papers(papers)
    first_seen = list(dict.fromkeys(p.paper_id for p in papers))
    assert [p.paper_id for p in merged] == first_seen
    proxies = by_title(merged)[
        "Small-scale proxies for large-scale Transformer training instabilities"
    ]
    assert proxies.sources == tuple(sorted(p.name for p in PAGES[2:]))  # search, daily, search


def test_profile_and_collaborator_copies_merge_metadata_and_authors():
    merged = by_title(merge_papers(all_papers()))
    trading = merged["Trading Inference-Time Compute for Adversarial Robustness"]
    assert trading.sources == (PROFILE, COLLABORATORS)
    # The profile's three listed authors, and the collaborator page's owner.
    assert trading.authors == (
        "Wojciech Zaremba",
        "Evgenia Nitishinskaya",
        "Boaz Barak",
        "Yaodong Yu",
    )
    assert (trading.category, trading.date, trading.year) == ("LG", "Jan 31, 2025", 2025)
    assert trading.venue == "arXiv"  # only the collaborator page says where it appeared
    calibration = merged["A Study on the Calibration of In-context Learning"]
    assert calibration.authors == (
        "Hanlin Zhang",
        "Yi-Fan Zhang",
        "Yaodong Yu",
    )  # no duplicate owner


def test_dirty_collaborator_copy_loses_to_the_clean_abstract():
    papers = all_papers()
    copies = [p for p in papers if p.title == TOKEN_STATISTICS]
    clean, dirty = (
        next(p for p in copies if p.sources == (name,)) for name in (PROFILE, COLLABORATORS)
    )
    # The real defect: a passage missing after "(MCR" and the introduction glued on.
    assert "(MCR TSSA has linear" in dirty.abstract and "(Vaswani et al., 2017)." in dirty.abstract
    assert len(dirty.abstract) > len(clean.abstract)  # so "keep the longest" would be wrong
    assert noise_markers(dirty.abstract) > noise_markers(clean.abstract) == 0
    for order in (papers, papers[::-1]):
        merged = by_title(merge_papers(order))[TOKEN_STATISTICS]
        assert merged.abstract == clean.abstract
        assert merged.sources == (PROFILE, COLLABORATORS)


def test_every_merged_abstract_is_one_of_its_copies_and_as_clean_as_the_cleanest():
    papers = all_papers()
    for merged in merge_papers(papers):
        copies = [
            p.abstract for p in papers if normalise_title(p.title) == normalise_title(merged.title)
        ]
        assert merged.abstract in copies
        assert noise_markers(merged.abstract) == min(noise_markers(c) for c in copies)


def test_glued_introduction_without_citations_runs_past_the_end():
    clean = "We study X. Our method improves Y by a wide margin on three benchmarks."
    glued = (
        clean + " Deep networks have been applied widely in many different settings over the years."
    )
    assert choose_abstract([glued, clean]) == clean
    assert choose_abstract([clean, glued]) == clean


def test_agreed_copy_wins_between_equally_clean_versions():
    v1 = "We propose a method for fast training. It works well on standard benchmarks."
    v2 = "We propose a method for fast and stable training. It works well on all benchmarks."
    assert choose_abstract([v2, v1, v1]) == v1
    assert choose_abstract([v1, v2]) == v1 and choose_abstract([v2, v1]) == v2  # else first seen


def test_keys_doi_arxiv_and_title_union_transitively():
    a = Paper.create("Attention Is All You Need", "A.", doi="10.1/ABC", sources=("a.bib",))
    b = Paper.create(
        "Attention is all you need (NeurIPS version)", "B.", doi="https://doi.org/10.1/abc"
    )
    c = Paper.create(
        "Attention Is All You Need (NeurIPS version)!", "C.", arxiv_id="1706.03762v5", year=2017
    )
    d = Paper.create(
        "Transformers, the arXiv title", "D.", arxiv_id="arXiv:1706.03762", sources=("d.json",)
    )
    other = Paper.create("Something Else", "E.")
    merged = merge_papers([a, other, b, c, d])
    assert [p.title for p in merged] == ["Attention Is All You Need", "Something Else"]
    assert merged[0].paper_id == a.paper_id
    assert (merged[0].doi, merged[0].arxiv_id, merged[0].year) == ("10.1/ABC", "1706.03762v5", 2017)
    assert merged[0].sources == ("a.bib", "d.json")


def test_same_title_with_different_dois_stays_two_papers():
    a = Paper.create("Introduction", "First.", doi="10.1/one")
    b = Paper.create("Introduction", "Second.", doi="10.1/two")
    c = Paper.create("introduction", "Third.")  # no id: joins the first
    merged = merge_papers([a, b, c])
    assert [p.abstract for p in merged] == ["First.", "Second."]


def test_merge_authors_prefers_longest_and_adds_missing_people():
    assert merge_authors([("Yaodong Yu",), ("Tom Sander", "Yaodong Yu", "Maziar Sanjabi")]) == (
        "Tom Sander",
        "Yaodong Yu",
        "Maziar Sanjabi",
    )
    assert merge_authors([(), ()]) == ()
    assert merge_authors([("Léon Bottou",), ("Leon Bottou", "Yann LeCun")]) == (
        "Leon Bottou",
        "Yann LeCun",
    )


def test_merging_is_idempotent_and_reparsing_gives_the_same_ids():
    merged = merge_papers(all_papers())
    assert merge_papers(merged) == merged
    assert [p.paper_id for p in merge_papers(all_papers())] == [p.paper_id for p in merged]
