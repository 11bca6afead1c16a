"""The four scraped listing-page formats, on the bundled pages and verbatim excerpts of them."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.errors import SourceError
from rag.sources import (
    ParseReport,
    collaborators,
    daily,
    detect_format,
    parse_file,
    profile,
    search_results,
)
from rag.sources.profile import is_person_name, parse_author_list, split_title_authors
from rag.sources.text import iter_blocks, read_head, read_text

DATA = Path(__file__).resolve().parents[3] / "data"
EXCERPTS = Path(__file__).resolve().parents[2] / "fixtures" / "listing"
PROFILE, COLLABORATORS, SEARCH, DAILY, SEARCH_2 = sorted(p.name for p in DATA.glob("*.txt"))
LISTING_MODULES = (profile, collaborators, search_results, daily)
EXPECTED = {  # file -> (format module, number of papers), counted by hand from each page
    PROFILE: (profile, 39),
    COLLABORATORS: (collaborators, 10),
    SEARCH: (search_results, 231),
    DAILY: (daily, 65),
    SEARCH_2: (search_results, 119),
}
CHROME_WORDS = ("Subscribe", "Get trending papers", "byAK", "Goto", "Collaborating Authors")


def papers_of(path: Path) -> tuple[list, ParseReport]:
    report = ParseReport()
    return list(parse_file(path, report)), report


def excerpt(name: str) -> tuple[dict, ParseReport]:
    papers, report = papers_of(EXCERPTS / name)
    return {paper.title: paper for paper in papers}, report


# --- the bundled pages --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_page_is_detected_from_its_content(name, tmp_path):
    module, _ = EXPECTED[name]
    # A neutral name and suffix: detection must come from the content alone.
    copy = tmp_path / "page.dat"
    copy.write_bytes((DATA / name).read_bytes())
    assert detect_format(copy) is module
    head = read_head(copy)
    assert [m for m in LISTING_MODULES if m.detect(copy, head)] == [module]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_entry_becomes_one_paper_and_no_chrome_does(name):
    _, count = EXPECTED[name]
    papers, report = papers_of(DATA / name)
    assert len(papers) == count
    assert report.skipped == [] and report.problems == []
    for paper in papers:
        assert not paper.title.startswith(CHROME_WORDS), paper.title
        assert len(paper.abstract) > 400, paper.title  # a real abstract, not a stray line
        assert paper.sources == (name,)
    assert len({p.paper_id for p in papers}) == count  # no page lists a paper twice


def test_no_paper_is_lost_counting_independently():
    """Counts derived from the raw layout of each page, not from the parsers."""
    lines = (DATA / SEARCH).read_text(encoding="utf-8").splitlines()
    assert (len([line for line in lines if line.strip()]) - 2) // 2 == EXPECTED[SEARCH][1]
    blocks = [b for _, b in iter_blocks(DATA / DAILY)]
    assert (len(blocks) - 5) // 2 == EXPECTED[DAILY][1]  # five chrome blocks on top
    headers = [
        line
        for line in (DATA / PROFILE).read_text().splitlines()
        if profile.HEADER_RE.fullmatch(line)
    ]
    assert len(headers) == EXPECTED[PROFILE][1]


def test_reparsing_gives_identical_paper_ids():
    for name in sorted(EXPECTED):
        first = [paper.paper_id for paper in papers_of(DATA / name)[0]]
        again = [paper.paper_id for paper in papers_of(DATA / name)[0]]
        assert first == again


def test_every_profile_entry_splits_into_title_and_three_authors():
    papers, _ = papers_of(DATA / PROFILE)
    raw_lines = (DATA / PROFILE).read_text().splitlines()
    for paper in papers:
        assert len(paper.authors) == 3, paper.title  # every entry shows three, then "et al."
        assert all(is_person_name(name) for name in paper.authors)
        assert not any("et al" in name for name in paper.authors)
        # Title + authors (+ affiliations) rebuild the scraped line exactly.
        glued = paper.title + ", ".join(paper.authors)
        assert any(line.startswith(glued) for line in raw_lines), paper.title
    assert sum(len(p.authors) for p in papers) == 117
    assert sum("Yaodong Yu" in p.authors for p in papers) == 31  # grep -c on the title lines


# --- author-profile listing (excerpt of file 000) -------------------------------


def test_profile_excerpt_fields():
    papers, report = excerpt("profile_excerpt.txt")
    assert report.problems == [] and len(papers) == 9
    card = papers["OpenAI GPT-5 System Card"]
    assert card.authors == ("Aaditya Singh", "Adam Fry", "Adam Perelman")
    assert card.affiliations == ("berkeley", "mila")
    assert (card.category, card.date, card.year) == ("CL", "Dec 19, 2025", 2025)
    assert card.abstract.startswith("This is the system card published alongside")

    # "92.5AIMar 11Code": a score, category AI, and a date without a year.
    challenge = papers[
        "IH-Challenge: A Training Dataset to Improve Instruction Hierarchy on Frontier LLMs"
    ]
    assert (challenge.category, challenge.date, challenge.year) == ("AI", "Mar 11", None)


@pytest.mark.parametrize(
    ("line", "title", "authors"),
    [  # verbatim title lines of file 000
        (
            "White-Box Transformers via Sparse Rate Reduction: Compression Is All There Is?"
            "Yaodong Yu, Sam Buchanan, Druv Pai et al.",
            "White-Box Transformers via Sparse Rate Reduction: Compression Is All There Is?",
            ("Yaodong Yu", "Sam Buchanan", "Druv Pai"),
        ),
        (
            "IH-Challenge: A Training Dataset to Improve Instruction Hierarchy on Frontier LLMs"
            "Chuan Guo, Juan Felipe Ceron Uribe, Sicheng Zhu et al.",
            "IH-Challenge: A Training Dataset to Improve Instruction Hierarchy on Frontier LLMs",
            ("Chuan Guo", "Juan Felipe Ceron Uribe", "Sicheng Zhu"),
        ),
        (
            "Closed-Loop Data Transcription to an LDR via Minimaxing Rate Reduction"
            "Xili Dai, Shengbang Tong, Mingyang Li et al.",
            "Closed-Loop Data Transcription to an LDR via Minimaxing Rate Reduction",
            ("Xili Dai", "Shengbang Tong", "Mingyang Li"),
        ),
        (
            "ReduNet: A White-box Deep Network from the Principle of Maximizing Rate Reduction"
            "Kwan Ho Ryan Chan, Yaodong Yu, Chong You et al.",
            "ReduNet: A White-box Deep Network from the Principle of Maximizing Rate Reduction",
            ("Kwan Ho Ryan Chan", "Yaodong Yu", "Chong You"),
        ),
        (
            "Adversarial Robustness of Stabilized NeuralODEs Might be from Obfuscated Gradients"
            "Yifei Huang, Yaodong Yu, Hongyang Zhang et al.",
            "Adversarial Robustness of Stabilized NeuralODEs Might be from Obfuscated Gradients",
            ("Yifei Huang", "Yaodong Yu", "Hongyang Zhang"),
        ),
        (
            "What You See is What You Get: Principled Deep Learning via Distributional Generalization"
            "Bogdan Kulynych, Yao-Yuan Yang, Yaodong Yu et al. · berkeley, deepmind",
            "What You See is What You Get: Principled Deep Learning via Distributional Generalization",
            ("Bogdan Kulynych", "Yao-Yuan Yang", "Yaodong Yu"),
        ),
        (
            "Third-order Smoothness Helps: Even Faster Stochastic Optimization Algorithms for Finding "
            "Local MinimaYaodong Yu, Pan Xu, Quanquan Gu",
            "Third-order Smoothness Helps: Even Faster Stochastic Optimization Algorithms for Finding "
            "Local Minima",
            ("Yaodong Yu", "Pan Xu", "Quanquan Gu"),
        ),
    ],
)
def test_real_title_author_splits(line, title, authors):
    got_title, got_authors, _ = split_title_authors(line)
    assert (got_title, got_authors) == (title, authors)


@pytest.mark.parametrize(
    ("line", "title", "authors"),
    [  # constructed: the bundled pages have no such names, other profiles do
        (
            "Gradient-Based Learning Applied to Document RecognitionYann LeCun, Léon Bottou, Yoshua Bengio et al.",
            "Gradient-Based Learning Applied to Document Recognition",
            ("Yann LeCun", "Léon Bottou", "Yoshua Bengio"),
        ),
        (
            "Visualizing Data using t-SNELaurens van der Maaten, Geoffrey Hinton",
            "Visualizing Data using t-SNE",
            ("Laurens van der Maaten", "Geoffrey Hinton"),
        ),
        (
            "Certified Robustness via Randomized SmoothingJeremy Cohen, Elan Rosenfeld, J. Z. Kolter",
            "Certified Robustness via Randomized Smoothing",
            ("Jeremy Cohen", "Elan Rosenfeld", "J. Z. Kolter"),
        ),
        (
            "Sparks of AGI: Early experiments with GPTSébastien Bubeck, Varun Chandrasekaran et al.",
            "Sparks of AGI: Early experiments with GPT",
            ("Sébastien Bubeck", "Varun Chandrasekaran"),
        ),
        (
            "A Survey of Large Language Models (LLMs)Wayne Xin Zhao, Kun Zhou et al. · renmin",
            "A Survey of Large Language Models (LLMs)",
            ("Wayne Xin Zhao", "Kun Zhou"),
        ),
        (
            "Are Emergent Abilities of Large Language Models a Mirage?Rylan Schaeffer, Sanmi Koyejo",
            "Are Emergent Abilities of Large Language Models a Mirage?",
            ("Rylan Schaeffer", "Sanmi Koyejo"),
        ),
        (
            "ChauffeurNet: Imitating the Best and Synthesizing the WorstMayank Bansal, Abhijit Ogale",
            "ChauffeurNet: Imitating the Best and Synthesizing the Worst",
            ("Mayank Bansal", "Abhijit Ogale"),
        ),
        (
            "Estimating Sequence-level AttributesNando de Freitas, Daniel O'Brien, Jun-yan Zhu",
            "Estimating Sequence-level Attributes",
            ("Nando de Freitas", "Daniel O'Brien", "Jun-yan Zhu"),
        ),
        (
            "GPT-4 Technical ReportOpenAI, Josh Achiam, Steven Adler et al.",
            "GPT-4 Technical Report",
            ("OpenAI", "Josh Achiam", "Steven Adler"),
        ),
    ],
)
def test_hard_title_author_splits(line, title, authors):
    got_title, got_authors, _ = split_title_authors(line)
    assert (got_title, got_authors) == (title, authors)


TITLE_WORDS = [  # real title words: acronyms, camel case, digits, punctuation, even names
    "Learning", "via", "Sparse", "Rate", "Reduction", "for", "the", "of", "a", "x", "Is", "LLMs", "GPT",
    "ReLU", "NeuralODEs", "ChauffeurNet", "White-Box", "t-SNE", "50,176", "Mirage?", "(LLMs)", "ToST",
    "Gauss-Newton", "Bayes", "DeepMind", "GPT-4", "ImageNet", "CIFAR-10", "BERT:", "Q-VLM:", "O(n)",
    "McKean-Vlasov", "MoE", "LoRA", "DiT", "ViT", "AlphaGo", "e.g.", "vs.", "von", "Neumann", "Le", "Yu",
    "LeCun", "Kolter", "Yaodong", "Yi-Fan", "de", "Net", "Jr.", "OpenAI", "II", "L2", "(2024)", "&", "and",
]  # fmt: skip
GIVEN = [
    "Yaodong",
    "Sam",
    "Yi-Fan",
    "Anne-Marie",
    "J.",
    "J.-P.",
    "Kwan Ho",
    "Léon",
    "Juan Felipe",
    "Ricky T. Q.",
    "Le",
]
FAMILY = ["Yu", "LeCun", "van der Maaten", "de Freitas", "O'Brien", "Ceron Uribe", "McDonald", "Müller", "Lee Jr.",
          "Ó Héigeartaigh"]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(
    title=st.lists(st.sampled_from(TITLE_WORDS), min_size=1, max_size=8).map(" ".join),
    authors=st.lists(
        st.tuples(st.sampled_from(GIVEN), st.sampled_from(FAMILY)).map(" ".join),
        min_size=1,
        max_size=4,
    ),
    et_al=st.booleans(),
    affiliations=st.sampled_from([(), ("berkeley",), ("berkeley", "mila")]),
)
def test_split_recovers_any_glued_title_and_author_list(title, authors, et_al, affiliations):
    line = title + ", ".join(authors) + (" et al." if et_al else "")
    line += " · " + ", ".join(affiliations) if affiliations else ""
    assert split_title_authors(line) == (title, tuple(authors), affiliations)


def test_author_list_rejects_title_words():
    assert parse_author_list("Reduction via Sparsity, Yaodong Yu") is None
    assert parse_author_list("Yaodong Yu, GPT-4 Team") is None
    assert parse_author_list("LLMs Yaodong Yu") is None
    assert parse_author_list("Martin Luther King, Jr., Ann Lee") == (
        "Martin Luther King Jr.",
        "Ann Lee",
    )


def test_unsplittable_title_line_is_kept_and_reported(tmp_path):
    page = tmp_path / "profile.txt"
    page.write_text(
        "LGJun 1, 2023\nwhite-box transformers, all lower case\nAn abstract sentence.\n"
    )
    papers, report = papers_of(page)
    assert [p.title for p in papers] == ["white-box transformers, all lower case"]
    assert papers[0].authors == ()
    assert report.problems[0].line == 2


def test_profile_entry_without_abstract_is_skipped(tmp_path):
    page = tmp_path / "profile.txt"
    page.write_text(
        "LGJun 1, 2023\nA TitleAnn Lee\nLGJun 2, 2023Code\nB TitleBob Stone\nAbstract of B.\n"
    )
    papers, report = papers_of(page)
    assert [p.title for p in papers] == ["B Title"]
    assert report.skipped == ["A Title"]


# --- collaborating-authors page (excerpt of file 001) ---------------------------


def test_collaborators_page_owner_is_an_author_of_every_paper():
    papers, report = excerpt("collaborators_excerpt.txt")
    assert list(papers) == [
        "Trading Inference-Time Compute for Adversarial Robustness",
        "Token Statistics Transformer: Linear-Time Attention via Variational Rate Reduction",
    ]
    for paper in papers.values():
        assert paper.authors == ("Yaodong Yu",)  # from the header " Yu, Yaodong"
        assert (paper.category, paper.venue, paper.year) == ("AI", "arXiv", None)
        assert not paper.abstract.startswith("arXiv.org")  # the source line is no abstract
    assert report.skipped == []


def test_collaborators_owner_name_order():
    assert collaborators.owner_name(" Yu, Yaodong") == "Yaodong Yu"
    assert collaborators.owner_name("Yaodong Yu") == "Yaodong Yu"


# --- search results (excerpt of file 002) and daily page (excerpt of file 003) ---


def test_search_results_first_title_loses_the_glued_button():
    papers, report = excerpt("search_results_excerpt.txt")
    assert list(papers) == [
        "Understanding Certified Training with Interval Bound Propagation",
        "On the Effectiveness of Interval Bound Propagation for Training Verifiably Robust Models",
        "Certified Training: Small Boxes are All You Need",
    ]
    assert all(p.authors == () and p.year is None for p in papers.values())


def test_daily_page_chrome_and_page_date_are_not_papers_or_dates():
    papers, report = excerpt("daily_excerpt.txt")
    assert len(papers) == 6 and report.problems == []
    assert (
        next(iter(papers)) == "Q-VLM: Post-training Quantization for Large Vision-Language Models"
    )
    assert "To Generate or Not? Safety-Driven Unlearned Diffusion Models Are Still Easy To Generate Unsafe " \
        "Images ... For Now" in papers  # fmt: skip
    for paper in papers.values():
        assert paper.date is None and paper.year is None  # "Mar 11" is the page's date
    assert all(
        daily.is_chrome(b)
        for b in ("new", "Subscribe", "Mar 11", "byAK and the research community")
    )


def test_title_without_abstract_is_skipped_and_stray_abstract_reported(tmp_path):
    page = tmp_path / "search.txt"
    lines = (EXCERPTS / "search_results_excerpt.txt").read_text().splitlines()
    # Drop the first paper's abstract and repeat the second's: a stray abstract.
    page.write_text("\n".join(lines[:3] + [lines[4], lines[5], lines[5]] + lines[6:]) + "\n")
    papers, report = papers_of(page)
    assert [p.title for p in papers] == [
        "On the Effectiveness of Interval Bound Propagation for Training Verifiably Robust Models",
        "Certified Training: Small Boxes are All You Need",
    ]
    assert report.skipped == ["Understanding Certified Training with Interval Bound Propagation"]
    assert [problem.line for problem in report.problems] == [6]


def test_excerpts_are_verbatim_copies_of_the_bundled_pages():
    pages = [(DATA / name).read_text(encoding="utf-8") for name in EXPECTED]
    for path in EXCERPTS.glob("*.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert any(line in page for page in pages), (path.name, line[:60])


# --- reading text -------------------------------------------------------------


def test_read_text_errors_name_the_problem(tmp_path):
    cases = {
        tmp_path / "missing.txt": "no such file",
        tmp_path: "is a directory",
    }
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b" \n\t\r\n" * 5000)  # blank beyond the head too
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    cases |= {
        tmp_path / "empty.txt": "file is empty",
        tmp_path / "blank.txt": "file is empty",
        tmp_path / "image.png": "binary file, not text",
    }
    for path, problem in cases.items():
        with pytest.raises(SourceError) as error:
            read_text(path)
        assert problem in str(error.value) and str(path) in str(error.value)
        with pytest.raises(SourceError):
            detect_format(path)


def test_binary_content_after_the_head_is_caught(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"A title line\n" * 1000 + b"\x00\x01\x02")
    with pytest.raises(SourceError, match="binary"):
        read_text(path)


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("Léon Bottou, naïve\n".encode("latin-1"), "Léon Bottou, naïve"),
        ("“quoted” – café\n".encode("cp1252"), "“quoted” – café"),
        (codecs.BOM_UTF8 + "Müller\n".encode(), "Müller"),
        ("Müller\r\nÉcole\n".encode("utf-16"), "Müller\nÉcole"),  # BOM + native byte order
        (b"CRLF\r\nold Mac\rline\n", "CRLF\nold Mac\nline"),
        (codecs.BOM_UTF16_BE + "Müller\n".encode("utf-16-be"), "Müller"),
        (codecs.BOM_UTF16_LE + "Müller\n".encode("utf-16-le"), "Müller"),
        (
            "utf-8 ok: é\n".encode() + "cp1252 line: é\n".encode("cp1252"),
            "utf-8 ok: é\ncp1252 line: é",
        ),
    ],
)
def test_read_text_decodings(tmp_path, encoded, expected):
    path = tmp_path / "page.txt"
    path.write_bytes(encoded)
    assert read_text(path) == expected
    assert read_head(path).rstrip("\n") == expected


def test_utf16_page_parses_like_the_utf8_one(tmp_path):
    path = tmp_path / "page.txt"
    path.write_bytes((EXCERPTS / "daily_excerpt.txt").read_text(encoding="utf-8").encode("utf-16"))
    assert detect_format(path) is daily
    assert [p.title for p in papers_of(path)[0]] == list(excerpt("daily_excerpt.txt")[0])


def test_read_head_is_bounded_and_keeps_whole_characters(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(("é" * 10_000 + "\n").encode("utf-8"))
    head = read_head(path, size=1001)  # cuts the 501st "é" in half
    assert head == "é" * 500


def test_unknown_format_lists_the_supported_ones(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Some notes.\nNothing that looks like a paper listing.\n")
    with pytest.raises(SourceError, match="unknown format.*author-profile listing"):
        detect_format(path)
