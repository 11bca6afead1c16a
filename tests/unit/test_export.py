"""rag.export: an answer as Markdown with a numbered reference list and BibTeX (pure)."""

from __future__ import annotations

import re

from rag.export import (
    answer_to_markdown,
    bibtex_entries,
    bibtex_entry,
    bibtex_escape,
    bibtex_key,
    escape_markdown,
    format_reference,
    last_name,
    reference_list,
)
from rag.types import Answer, Citation, Hit, Paper

UAP = Paper.create(
    "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations",
    "Machine learning models are susceptible to adversarial perturbations. In this paper, we "
    "present a novel, generalizable and data-free approach for crafting universal adversarial "
    "perturbations.",
    authors=["Konda Reddy Mopuri", "Aditya Ganeshan", "R. Venkatesh Babu"],
    year=2018,
    arxiv_id="1801.08092",
    venue="IEEE TPAMI",
)
HOSTILE = Paper.create(
    "<script>alert(1)</script> [click](javascript:alert(2)) *Bold* Claims",
    "We show <b>markup</b> & 100% of {braces}.",
    authors=["Eve O'Mallory", "Bob Tables"],
    year=2024,
    url="https://example.org/paper?id=1&x={y}",
)


def _answer(*papers: Paper, text: str = "UAPs can be crafted without data [1].") -> Answer:
    hits = tuple(Hit(p, 1.0 - i / 10, p.abstract) for i, p in enumerate(papers))
    citations = tuple(
        Citation(n, p, p.abstract.split(". ")[-1], support=0.8 - n / 10)
        for n, p in enumerate(papers, start=1)
    )
    return Answer(
        question="Which method crafts <b>universal</b> perturbations without data?",
        text=text,
        refused=False,
        citations=citations,
        hits=hits,
        backend="extractive",
        latency_s=0.5,
    )


def test_escape_markdown_neutralises_links_html_and_emphasis():
    escaped = escape_markdown("<script>alert(1)</script> [a](javascript:x) *b* `c` x < y &lt;")
    assert "<script" not in escaped and "&lt;script>" in escaped
    assert "\\[a\\](javascript:x)" in escaped
    assert "\\*b\\*" in escaped and "\\`c\\`" in escaped
    assert "x < y" in escaped  # a lone "<" is text in Markdown already
    assert "&amp;lt;" in escaped  # an entity in the paper stays literal


def test_bibtex_key_uses_family_name_year_and_first_significant_word():
    assert bibtex_key(UAP) == "mopuri2018generalizable"
    on_the = Paper.create("On the Robustness of ViTs", "x", authors=["Ana Díaz"], year=2021)
    assert bibtex_key(on_the) == "diaz2021robustness"
    comma = Paper.create("Scaling Laws", "x", authors=["Kaplan, Jared"], year=2020)
    assert bibtex_key(comma) == "kaplan2020scaling"
    assert bibtex_key(Paper.create("The Paper", "x")) == "anonndpaper"


def test_bibtex_keys_are_unique_within_one_export():
    twin = Paper.create(UAP.title + " Revisited", "x", authors=["K. Mopuri"], year=2018)
    entries = bibtex_entries([UAP, twin, UAP])
    keys = [re.match(r"@\w+\{([^,]+),", e).group(1) for e in entries]
    assert keys == [
        "mopuri2018generalizable",
        "mopuri2018generalizableb",
        "mopuri2018generalizablec",
    ]


def test_bibtex_entry_fields():
    entry = bibtex_entry(UAP, "k")
    assert entry.startswith("@article{k,\n")
    assert "title = {{Generalizable Data-free Objective" in entry
    assert "author = {Konda Reddy Mopuri and Aditya Ganeshan and R. Venkatesh Babu}" in entry
    assert "year = {2018}" in entry
    assert "journal = {IEEE TPAMI}" in entry
    assert "eprint = {1801.08092}" in entry and "archiveprefix = {arXiv}" in entry
    assert entry.rstrip().endswith("}")
    plain = bibtex_entry(Paper.create("T", "A."), "t")
    assert plain.startswith("@misc{t,") and "author" not in plain and "year" not in plain


def test_bibtex_escapes_special_characters_and_braces():
    assert bibtex_escape("100% {x} & $y$ #1 a_b") == r"100\% \{x\} \& \$y\$ \#1 a\_b"
    entry = bibtex_entry(HOSTILE, "h")
    assert r"100\%" not in entry  # the abstract is not exported
    assert r"\{" not in entry.split("url = ")[1]  # URLs are percent-encoded instead
    assert "%7By%7D" in entry
    # braces stay balanced, so the entry parses
    assert entry.count("{") - entry.count(r"\{") == entry.count("}") - entry.count(r"\}")


def test_last_name():
    assert last_name("Yaodong Yu") == "Yu"
    assert last_name("Mopuri, Konda Reddy") == "Mopuri"


def test_format_reference_escapes_title_and_keeps_only_http_links():
    ref = format_reference(HOSTILE)
    assert ref.startswith("Eve O'Mallory, Bob Tables (2024). ")
    assert "<script" not in ref and "\\[click\\]" in ref
    assert "<https://example.org/paper?id=1&x={y}>" in ref
    evil = Paper.create("Evil", "x", url="javascript:alert(1)")
    assert "javascript" not in format_reference(evil)


def test_reference_list_is_numbered_by_the_answer_markers():
    answer = _answer(UAP, HOSTILE)
    lines = reference_list(answer.citations).splitlines()
    assert lines[0].startswith("1. Konda Reddy Mopuri, Aditya Ganeshan, R. Venkatesh Babu (2018).")
    assert lines[1].startswith("   > “In this paper")
    assert "(support 0.70)" in lines[1]
    assert lines[2].startswith("2. Eve O'Mallory")


def test_answer_to_markdown_has_question_answer_references_and_bibtex():
    md = answer_to_markdown(
        _answer(UAP, text="UAPs can be crafted without data [1].\n- A list item [1]")
    )
    assert md.startswith(
        "# Which method crafts &lt;b>universal&lt;/b> perturbations without data?\n"
    )
    assert "UAPs can be crafted without data \\[1\\]." in md
    assert "\n- A list item \\[1\\]" in md  # the answer's own list survives
    assert "## References\n\n1. Konda Reddy Mopuri" in md
    bib = md.split("## BibTeX")[1]
    assert "```bibtex\n@article{mopuri2018generalizable," in bib
    assert bib.rstrip().splitlines()[-3] == "```"
    assert md.rstrip().endswith("*Answered by the extractive backend.*")


def test_answer_without_citations_has_no_reference_sections():
    refused = Answer("Q?", "I cannot answer this.", True, (), (), "extractive", 0.1)
    md = answer_to_markdown(refused)
    assert "## References" not in md and "BibTeX" not in md


def test_code_fence_outlasts_backticks_in_titles():
    tricky = Paper.create("Fences ``` inside titles", "x", year=2020)
    md = answer_to_markdown(_answer(tricky, text="Fences [1]."))
    assert "````bibtex" in md
