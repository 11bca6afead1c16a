"""BibTeX, arXiv metadata JSON lines and generic CSV/JSONL sources, on realistic samples."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path

import pytest

from rag.errors import SourceError
from rag.sources import ParseReport, arxiv, bibtex, detect_format, parse_file, tabular
from rag.sources.bibtex import bibtex_authors, latex_to_text
from rag.sources.fields import arxiv_id_from, clean_doi, find_year, split_authors

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "formats"
DATA = Path(__file__).resolve().parents[3] / "data"


def parse(name: str) -> tuple[dict[str, object], ParseReport]:
    """Papers of a fixture keyed by title, and the parse report."""
    report = ParseReport()
    papers = {paper.title: paper for paper in parse_file(FIXTURES / name, report)}
    return papers, report


# --- BibTeX -------------------------------------------------------------------


def test_zotero_bib_fields_accents_and_braces():
    papers, _ = parse("zotero.bib")
    attention = papers["Attention Is All You Need"]  # {Is} {All} ... braces removed
    assert attention.authors[:2] == ("Ashish Vaswani", "Noam Shazeer")
    assert len(attention.authors) == 8
    assert attention.year == 2017
    assert attention.doi == "10.48550/arXiv.1706.03762"
    assert attention.arxiv_id == "1706.03762"
    assert attention.link == "http://arxiv.org/abs/1706.03762"
    assert attention.sources == ("zotero.bib",)

    smoothing = papers["When does label smoothing help? A study of GPT-style & BERT-style models"]
    assert smoothing.authors == ("Rafael Müller", "Simon Kornblith", "Geoffrey E. Hinton")
    assert "soft targets—a weighted average" in smoothing.abstract  # --- is an em dash
    assert "calibration by 5% on average" in smoothing.abstract  # \% is a percent sign
    assert smoothing.venue == "Advances in Neural Information Processing Systems"
    assert smoothing.link is None

    simclr = papers["A Simple Framework for Contrastive Learning of Visual Representations"]
    assert "René Vidal and François Chollet" in simclr.abstract
    assert simclr.arxiv_id == "2002.05709"  # from the URL, without its version


def test_zotero_bib_arxiv_eprint_and_corporate_author():
    papers, _ = parse("zotero.bib")
    gpt4 = papers["GPT-4 Technical Report"]
    assert gpt4.authors == ("OpenAI", "Josh Achiam", "Steven Adler")
    assert gpt4.arxiv_id == "2303.08774"
    survey = papers["Deep Learning in Neural Networks: An Overview"]
    assert survey.authors == ("Jürgen Schmidhuber",)
    assert survey.arxiv_id == "1404.7828"  # archivePrefix = {arXiv}, eprint = {1404.7828}
    assert survey.venue == "Neural Networks"


def test_zotero_bib_malformed_entry_is_reported_and_the_rest_parsed():
    papers, report = parse("zotero.bib")
    assert len(report.problems) == 1
    problem = report.problems[0]
    lines = (FIXTURES / "zotero.bib").read_text().split("\n")
    assert lines[problem.line - 1].startswith("@article{broken_entry_2020,")
    assert "broken_entry_2020" in str(problem) and "zotero.bib:" in str(problem)
    # Entries after the broken one are still parsed (or skipped for a missing abstract).
    assert "A Simple Framework for Contrastive Learning of Visual Representations" in papers
    assert report.skipped == ["Deep learning"]
    assert len(papers) == 5


def test_mendeley_bib_with_header_text_and_arxiv_id_field():
    papers, report = parse("mendeley.bib")
    (bert,) = papers.values()
    assert bert.title.startswith("BERT: Pre-training of Deep Bidirectional Transformers")
    assert bert.authors == ("Jacob Devlin", "Ming-Wei Chang", "Kenton Lee", "Kristina Toutanova")
    assert bert.arxiv_id == "1810.04805"
    assert bert.link == "https://arxiv.org/abs/1810.04805"
    assert bert.year == 2019
    assert report.problems == [] and report.skipped == []


def test_google_scholar_bib_skips_entries_without_abstract():
    papers, report = parse("scholar.bib")
    assert report.skipped == ["Deep residual learning for image recognition"]
    adam = papers["Adam: A method for stochastic optimization"]
    assert adam.authors == ("Diederik P. Kingma", "Jimmy Ba")  # "First Last and ..." form
    assert adam.arxiv_id == "1412.6980"  # from journal = {arXiv preprint arXiv:1412.6980}
    assert adam.year == 2014


def test_bib_string_macros_percent_signs_and_duplicate_keys(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(
        '@string{nips = "Advances in Neural Information Processing Systems"}\n'
        "@inproceedings{a1, title = {First {Title}}, booktitle = nips, year = 2020,\n"
        "  abstract = {Improves accuracy by 5% on $k$-means}}\n"
        '@article{a1, title = {Second title}, abstract = "Quoted abstract", year = {2021},\n'
        "  doi = {https://doi.org/10.1000/XYZ}}\n"
    )
    report = ParseReport()
    first, second = bibtex.parse(path, report)
    assert first.venue == "Advances in Neural Information Processing Systems"
    assert first.abstract == "Improves accuracy by 5% on $k$-means"  # a bare % is no comment
    assert (second.title, second.abstract, second.doi) == (
        "Second title",
        "Quoted abstract",
        "10.1000/XYZ",
    )
    assert report.problems == []


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (r"M{\"u}ller, Rafael and Hinton, Geoffrey E.", ["Rafael Müller", "Geoffrey E. Hinton"]),
        ("Diederik P. Kingma and Jimmy Ba", ["Diederik P. Kingma", "Jimmy Ba"]),
        ("{Google DeepMind} and {Barnes and Noble}", ["Google DeepMind", "Barnes and Noble"]),
        ("von Neumann, John and Smith, Jr., Bob and others", ["John von Neumann", "Bob Smith Jr."]),
        (r"Ren{\'e} Vidal and Fran{\c c}ois Chollet", ["René Vidal", "François Chollet"]),
    ],
)
def test_bibtex_authors(value, names):
    assert bibtex_authors(value) == names


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (r"{GPT}-4 \& friends", "GPT-4 & friends"),
        (r"soft targets---a weighted   average", "soft targets—a weighted average"),
        (r"pages 4694--4704", "pages 4694–4704"),
        (r"{\'E}cole and J\"urgen", "École and Jürgen"),
        ("plain text stays", "plain text stays"),
        # Markup spanning words (decoded word group by word group, see latex_words).
        (r"\textit{Aedes   aegypti} in $O(n \log n)$ time", r"Aedes aegypti in $O(n \log n)$ time"),
        (r"Mixed {A {nested B} C} words---end", "Mixed A nested B C words—end"),
        (r"the \c c cedilla and \{literal braces\}", "the ç cedilla and {literal braces}"),
    ],
)
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


# --- arXiv metadata JSON lines -------------------------------------------------


def test_arxiv_jsonl_records():
    papers, report = parse("arxiv-metadata.jsonl")
    assert len(papers) == 3
    diphoton = papers[
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    ]
    assert diphoton.authors == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan")
    assert diphoton.arxiv_id == "0704.0001"
    assert diphoton.category == "hep-ph"
    assert diphoton.doi == "10.1103/PhysRevD.76.013009"
    assert diphoton.venue == "Phys.Rev.D76:013009,2007"
    assert diphoton.abstract.startswith("A fully differential calculation")
    attention = papers["Attention Is All You Need"]
    # The year of v1 (publication), not of v7 or of update_date (2023).
    assert (attention.year, attention.date) == (2017, "2017-06-12")
    assert attention.category == "cs.CL"  # the primary of "cs.CL cs.LG"
    assert attention.link == "https://arxiv.org/abs/1706.03762"
    assert attention.sources == ("arxiv-metadata.jsonl",)
    resnet = papers["Deep Residual Learning for Image Recognition"]
    assert resnet.year == 2016  # no versions: update_date is the fallback
    assert resnet.authors[-1] == "John Smith Jr"  # [last, first, suffix]


def test_arxiv_jsonl_bad_line_and_missing_abstract():
    _, report = parse("arxiv-metadata.jsonl")
    assert [problem.line for problem in report.problems] == [3]
    assert "not valid JSON" in str(report.problems[0])
    assert report.skipped == ["The primes contain arbitrarily long arithmetic progressions"]


def _arxiv_line(n: int) -> str:
    return json.dumps(
        {
            "id": f"2401.{n:05d}",
            "title": f"Synthetic paper number {n}",
            "authors": "Ada Lovelace, Alan Turing",
            "abstract": f"We study problem {n} " + "with a long enough abstract " * 10,
            "categories": "cs.LG stat.ML",
            "versions": [{"version": "v1", "created": "Tue, 2 Jan 2024 10:00:00 GMT"}],
            "update_date": "2024-01-03",
            "authors_parsed": [["Lovelace", "Ada", ""], ["Turing", "Alan", ""]],
        }
    )


def test_large_arxiv_jsonl_is_streamed(tmp_path):
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    count = 50_000
    with path.open("w") as handle:
        for n in range(count):
            handle.write(_arxiv_line(n) + "\n")
    size = path.stat().st_size
    assert detect_format(path) is arxiv

    report = ParseReport()
    papers = parse_file(path, report)
    # Memory is traced over the first 5,000 papers only (tracing is slow); a parser that
    # read the whole file before yielding would already peak at its size here.
    tracemalloc.start()
    try:
        first = next(papers)
        for _ in range(4_999):
            next(papers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A record appended after the first papers were taken is still read.
    with path.open("a") as handle:
        handle.write(_arxiv_line(count) + "\n")
    rest = [paper.title for paper in papers]
    assert first.title == "Synthetic paper number 0"
    assert rest[-1] == f"Synthetic paper number {count}"
    assert 5_000 + len(rest) == count + 1
    assert report.problems == [] and report.skipped == []
    assert peak < size / 20, f"peak {peak} bytes for a {size}-byte file"


def test_arxiv_detected_when_first_record_is_longer_than_the_head(tmp_path):
    record = json.loads(_arxiv_line(1))
    record["authors_parsed"] = [[f"Author{i}", "A.", ""] for i in range(2000)]  # ~40 KB line
    path = tmp_path / "collaboration.txt"
    path.write_text(json.dumps(record) + "\n" + _arxiv_line(2) + "\n")
    assert detect_format(path) is arxiv
    papers = list(parse_file(path, ParseReport()))
    assert len(papers[0].authors) == 2000


# --- CSV and JSON lines --------------------------------------------------------


def test_zotero_csv_export():
    papers, report = parse("zotero.csv")
    attention = papers["Attention Is All You Need"]
    assert attention.authors == ("Ashish Vaswani", "Noam Shazeer", "Niki Parmar", "Jakob Uszkoreit")
    # "Abstract Note" has a newline inside its quoted field; words are not glued together.
    assert "configuration. We propose" in attention.abstract
    assert attention.year == 2017
    assert attention.doi == "10.48550/arXiv.1706.03762"
    assert attention.arxiv_id == "1706.03762"
    assert attention.link == "http://arxiv.org/abs/1706.03762"
    smoothing = papers["When does label smoothing help?"]
    assert smoothing.authors == ("Rafael Müller", "Simon Kornblith", "Geoffrey E. Hinton")
    assert smoothing.venue == "Advances in Neural Information Processing Systems"
    assert smoothing.sources == ("zotero.csv",)
    assert report.skipped == ["Deep learning"]
    assert report.problems == []


def test_generic_jsonl():
    papers, report = parse("papers.jsonl")
    assert set(papers) == {
        "Language Models are Few-Shot Learners",
        "Denoising Diffusion Probabilistic Models",
        "Proximal Policy Optimization Algorithms",
    }
    gpt3 = papers["Language Models are Few-Shot Learners"]
    assert gpt3.authors == ("Tom B. Brown", "Benjamin Mann", "Nick Ryder")
    assert (gpt3.year, gpt3.arxiv_id, gpt3.category) == (2020, "2005.14165", "cs.CL")
    ddpm = papers["Denoising Diffusion Probabilistic Models"]  # capitalised keys
    assert ddpm.authors == ("Jonathan Ho", "Ajay Jain", "Pieter Abbeel")
    assert ddpm.link.startswith("https://proceedings.neurips.cc/")
    ppo = papers["Proximal Policy Optimization Algorithms"]
    assert ppo.authors == ("John Schulman", "Filip Wolski", "Prafulla Dhariwal")
    assert ppo.year == 2017  # from its date
    assert ppo.arxiv_id == "1707.06347"  # from the arXiv DOI
    assert report.skipped == ["Neural Ordinary Differential Equations"]
    assert [problem.line for problem in report.problems] == [5]


def test_csv_without_title_column_is_unusable():
    with pytest.raises(SourceError) as raised:
        list(parse_file(FIXTURES / "no_title.csv", ParseReport()))
    assert "no 'title' column; expected columns: title, abstract" in str(raised.value)
    assert "no_title.csv" in str(raised.value)


def test_jsonl_records_may_omit_keys_but_not_be_unrelated(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text('{"title": "No abstract key"}\n{"title": "T", "abstract": "A"}\n')
    report = ParseReport()
    assert [paper.title for paper in parse_file(path, report)] == ["T"]
    assert report.skipped == ["No abstract key"]
    path.write_text('{"name": "A", "text": "B"}\n')
    with pytest.raises(SourceError, match="no 'title' field in the first record"):
        list(parse_file(path, ParseReport()))


def test_csv_line_numbers_count_multiline_fields(tmp_path):
    path = tmp_path / "papers.tsv"
    path.write_text(
        "Title\tAbstract\tAuthors\tYear\n"
        'Paper one\t"First line\nsecond line"\tAda Lovelace, Alan Turing\t2001\n'
        "\tAn abstract without a title\t\t2002\n"
        "Paper three\tThird abstract\tLovelace, Ada\t2003\n"
    )
    report = ParseReport()
    one, three = parse_file(path, report)
    assert one.abstract == "First line second line"
    assert one.authors == ("Ada Lovelace", "Alan Turing")
    assert three.authors == ("Ada Lovelace",)
    assert [problem.line for problem in report.problems] == [4]


def test_csv_is_streamed(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_text("title,abstract\n" + "".join(f"T{n},A{n}\n" for n in range(5000)))
    papers = parse_file(path, ParseReport())
    assert next(papers).title == "T0"
    with path.open("a") as handle:
        handle.write("Appended,After the first paper\n")
    assert [paper.title for paper in papers][-1] == "Appended"


# --- detection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("zotero.bib", bibtex),
        ("mendeley.bib", bibtex),
        ("scholar.bib", bibtex),
        ("arxiv-metadata.jsonl", arxiv),
        ("zotero.csv", tabular),
        ("papers.jsonl", tabular),
        ("no_title.csv", tabular),
    ],
)
def test_detection_by_extension(name, module):
    assert detect_format(FIXTURES / name) is module


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("zotero.bib", bibtex),
        ("scholar.bib", bibtex),
        ("arxiv-metadata.jsonl", arxiv),
        ("zotero.csv", tabular),
        ("papers.jsonl", tabular),
    ],
)
def test_detection_by_content(tmp_path, name, module):
    path = tmp_path / "export.txt"
    shutil.copy(FIXTURES / name, path)
    assert detect_format(path) is module
    assert list(parse_file(path, ParseReport()))  # and it parses


def test_arxiv_json_file_is_not_taken_for_a_generic_table(tmp_path):
    path = tmp_path / "arxiv-metadata-oai-snapshot.json"
    shutil.copy(FIXTURES / "arxiv-metadata.jsonl", path)
    assert detect_format(path) is arxiv
    generic = tmp_path / "mine.json"
    shutil.copy(FIXTURES / "papers.jsonl", generic)
    assert detect_format(generic) is tabular


@pytest.mark.parametrize("page", sorted(DATA.glob("*.txt")), ids=lambda path: path.name)
def test_listing_pages_are_left_to_the_listing_parsers(page):
    from rag.sources.text import read_head

    head = read_head(page)
    assert not any(module.detect(page, head) for module in (bibtex, arxiv, tabular))


def test_plain_text_is_not_a_table(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Title, abstract and authors of papers I liked.\nNothing else here.\n")
    from rag.sources.text import read_head

    assert not tabular.detect(path, read_head(path))
    assert not bibtex.detect(path, read_head(path))


# --- field helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Vaswani, Ashish; Shazeer, Noam", ["Ashish Vaswani", "Noam Shazeer"]),
        ("Ashish Vaswani; Noam Shazeer", ["Ashish Vaswani", "Noam Shazeer"]),
        (
            "Jonathan Ho and Ajay Jain & Pieter Abbeel",
            ["Jonathan Ho", "Ajay Jain", "Pieter Abbeel"],
        ),
        ("Ho, Jonathan and Jain, Ajay", ["Jonathan Ho", "Ajay Jain"]),
        (
            "Ashish Vaswani, Noam Shazeer, Niki Parmar",
            ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"],
        ),
        ("Hinton, Geoffrey E.", ["Geoffrey E. Hinton"]),
        ("Hinton, G. E., LeCun, Y.", ["G. E. Hinton", "Y. LeCun"]),
        ("LeCun, Bengio, Hinton", ["LeCun", "Bengio", "Hinton"]),
        ("Ada Lovelace, et al.", ["Ada Lovelace"]),
        ("Ada Lovelace", ["Ada Lovelace"]),
        ("", []),
    ],
)
def test_split_authors(text, names):
    assert split_authors(text) == names


def test_identifier_helpers():
    assert arxiv_id_from("arXiv:1706.03762v5") == "1706.03762"
    assert arxiv_id_from("hep-th/9901001v2") == "hep-th/9901001"
    assert arxiv_id_from("https://arxiv.org/pdf/math/0406594") == "math/0406594"
    assert arxiv_id_from("1234.5678", bare=False) is None
    assert arxiv_id_from("https://example.org/paper") is None
    assert clean_doi("doi: 10.1038/nature14539") == "10.1038/nature14539"
    assert clean_doi("  ") is None
    assert find_year("2017-12-05") == 2017
    assert find_year(20170) is None
    assert find_year("n.d.") is None
