"""Fuzzing every parser in rag.sources: random bytes, random Unicode in many encodings,
inputs shaped like each format with random holes, enormous lines, deep nesting.

Every input must end in a clean result (Papers with a title and an abstract) or a
SourceError/ParseError with a one-line message: no other exception, no hang, and
memory (tracemalloc peak) bounded by a multiple of the input's size.

    RAG_FUZZ_EXAMPLES=10000 pytest tests/integration/test_fuzz.py   # the nightly run (bench/fuzz_run.py)
    RAG_FUZZ_REPORT=out.json                             # write inputs tried per parser
"""

from __future__ import annotations

import atexit
import codecs
import json
import os
import signal
import string
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.errors import ParseError, SourceError
from rag.sources import FORMAT_MODULES, ParseReport, formats, parse_file
from rag.sources.tabular import ALIASES
from rag.types import Paper

EXAMPLES = int(os.environ.get("RAG_FUZZ_EXAMPLES", "200"))  # generated inputs per parser
# A hang detector, not a speed assertion: the slowest input here parses in well under
# a second; only an endless or quadratic loop gets near this.
HANG_SECONDS = 120
# Peak traced memory while parsing may be at most this multiple of the file size, plus
# a fixed allowance (decoded text, one line's copies, the parser's own structures).
# Measured in the nightly run (eval/out/fuzz.json): at most 18x, for a 5 MB single-line
# BibTeX abstract (97 MB) and 16-17x for 5 MB listing-page blocks (the text split into
# words); 3x for JSON lines.
MEMORY_FACTOR = 40
MEMORY_SLACK = 8 * 2**20
BIG = 5 * 2**20  # "enormous line": 5 MB
DEEP = 100_000  # nesting depth of braces / JSON arrays

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODULES = {module.__name__.rsplit(".", 1)[1]: module for module in formats()}
SUFFIXES = [".txt", ".bib", ".jsonl", ".json", ".csv", ".tsv", ".dat", ""]
ENCODINGS = [
    "utf-8",
    "utf-8-sig",  # UTF-8 with BOM
    "utf-16",  # with BOM
    "utf-16-le",  # without BOM
    "utf-16-be",
    "utf-32",
    "latin-1",
    "cp1252",
]
TRIED: Counter[str] = Counter()  # inputs parsed, per parser, for the report
PEAKS: dict[str, tuple[int, int]] = {}  # label -> (largest peak, its input size)


def _write_report() -> None:
    target = os.environ.get("RAG_FUZZ_REPORT")
    if target and TRIED:
        figures = {"inputs": dict(sorted(TRIED.items())), "peak_bytes": PEAKS}
        Path(target).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


atexit.register(_write_report)


# --------------------------------------------------------------------- guards


class Hang(BaseException):  # BaseException: a parser's `except Exception` cannot hide it
    pass


@contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def fire(signum, frame):
        raise Hang(f"parsing did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


Parse = Callable[[Path, ParseReport], Iterator[Paper]]


def check_parse(parse: Parse, path: Path, label: str) -> list[Paper]:
    """Parse a file under the guards; the contract every parser keeps on any input."""
    size = path.stat().st_size
    report = ParseReport()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        with hang_guard():
            try:
                papers = list(parse(path, report))
            except SourceError as error:  # ParseError is a SourceError
                message = str(error)
                assert message and "\n" not in message, repr(message)
                assert message.startswith(str(path)), message
                papers = []
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    TRIED[label] += 1
    if peak > PEAKS.get(label, (0, 0))[0]:
        PEAKS[label] = (peak, size)
    assert peak <= MEMORY_FACTOR * size + MEMORY_SLACK, f"peak {peak:,} B for {size:,} B"
    for paper in papers:
        assert isinstance(paper, Paper)
        assert paper.title.strip() and paper.abstract.strip()
        assert paper.paper_id.startswith("p_")
    for problem in report.problems:
        assert isinstance(problem, ParseError)
        assert "\n" not in str(problem), repr(str(problem))
    assert all(isinstance(title, str) for title in report.skipped)
    return papers


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Import what the parsers import lazily, so imports do not count as parsing memory."""
    for folder in ("formats", "listing"):
        for sample in sorted((FIXTURES / folder).iterdir()):
            try:
                list(parse_file(sample, ParseReport()))
            except SourceError:  # a fixture of a rejected file
                pass


# ----------------------------------------------------------------- strategies

# Text with the characters parsers care about: LaTeX, JSON, CSV and listing markup.
MARKUP = list("{}\\$%~&_^#@,;\"'`\t|.:·…–—-") + [
    "\\'e",
    '{\\"u}',
    "$x$",
    "--",
    "---",
    "et al.",
    " and ",
    " · ",
    "Subscribe",
    "Code",
    "\r",
    "\x00",
    "\ufeff",
    "\u2028",
]
WORDS = st.one_of(
    st.text(string.ascii_letters, min_size=1, max_size=10),
    st.sampled_from(["Yu", "LeCun", "van der", "Jr.", "O'Brien", "Zhang", "Müller", "ø"]),
    st.sampled_from(MARKUP),
    st.text(max_size=8),  # any Unicode, surrogates excluded by hypothesis
)


@st.composite
def phrase(draw, max_words: int = 12) -> str:
    words = draw(st.lists(WORDS, max_size=max_words))
    return draw(st.sampled_from([" ", "", ", "])).join(words)


@st.composite
def name_list(draw) -> str:
    names = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["Ann", "J.", "Yaodong", "Jun-yan", "Kwan Ho", "A"]),
                st.sampled_from(["Lee", "Yu", "LeCun", "van der Maaten", "Müller", "X"]),
            ),
            max_size=5,
        )
    )
    sep = draw(st.sampled_from([", ", " and ", "; "]))
    tail = draw(st.sampled_from(["", " et al.", ", and others", "…"]))
    return sep.join(f"{a} {b}" for a, b in names) + tail


def braces(depth: int, inner: str) -> str:
    return "{" * depth + inner + "}" * depth


@st.composite
def bibtex_text(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["article", "inproceedings", "misc", "string", "comment", ""]))
        key = draw(st.sampled_from(["k1", "k1", "", "a b", "x{"]))
        fields = []
        for _ in range(draw(st.integers(0, 6))):
            name = draw(
                st.sampled_from(
                    [
                        "title",
                        "abstract",
                        "author",
                        "year",
                        "doi",
                        "url",
                        "eprint",
                        "archivePrefix",
                        "journal",
                        "note",
                        "arxivId",
                        "date",
                        "x",
                    ]
                )
            )
            value = braces(draw(st.integers(0, 40)), draw(phrase()))
            if name == "author":
                value = "{" + draw(name_list()) + "}"
            fields.append(
                f"  {name} = {draw(st.sampled_from([value, value[:-1], draw(phrase())]))}"
            )
        close = draw(st.sampled_from(["}", "", "}}", ")"]))
        lines.append(f"@{kind}{{{key},\n" + ",\n".join(fields) + f"\n{close}")
    lines += draw(st.lists(phrase(), max_size=2))
    return "\n".join(draw(st.permutations(lines)))


def _containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=5), children, max_size=4
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | phrase(),
    _containers,
    max_leaves=12,
)
JSON_KEYS = sorted(ALIASES) + ["id", "authors_parsed", "versions", "update_date", "journal-ref"]


@st.composite
def json_lines(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        record = draw(st.dictionaries(st.sampled_from(JSON_KEYS), JSON_VALUES, max_size=8))
        if draw(st.booleans()):
            record.setdefault("title", draw(phrase()))
            record.setdefault("abstract", draw(phrase()))
        if draw(st.booleans()):
            record["versions"] = [
                {"created": draw(st.sampled_from(["Mon, 2 Apr 2007 19:18:42 GMT", "", "x"]))}
            ]
            record["authors_parsed"] = draw(
                st.lists(st.lists(st.text(max_size=6), max_size=4), max_size=3)
            )
        line = json.dumps(record, ensure_ascii=draw(st.booleans()), allow_nan=True)
        cut = draw(st.integers(0, len(line)))
        lines.append(draw(st.sampled_from([line, line[:cut], draw(phrase())])))
    return "\n".join(lines)


@st.composite
def table_text(draw) -> str:
    delimiter = draw(st.sampled_from([",", "\t", ";"]))
    header = draw(
        st.lists(st.sampled_from(sorted(ALIASES) + ["Abstract Note", "key", ""]), max_size=8)
    )
    rows = [delimiter.join(header)]
    for _ in range(draw(st.integers(0, 5))):
        cells = draw(st.lists(phrase(), max_size=len(header) + 2))
        cells = [f'"{c}"' if draw(st.booleans()) else c for c in cells]
        rows.append(delimiter.join(cells))
    return "\n".join(rows)


@st.composite
def profile_text(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        score = draw(st.sampled_from(["", "92.5", "7"]))
        category = draw(st.sampled_from(["LG", "CL", "AI", "CV", "", "X"]))
        month = draw(st.sampled_from(["Jun", "Mar", "Sept", "Dec.", "Foo"]))
        year = draw(st.sampled_from(["", ", 2023", ", 1999"]))
        code = draw(st.sampled_from(["", "Code"]))
        lines.append(f"{score}{category}{month} {draw(st.integers(0, 40))}{year}{code}")
        title = draw(phrase())
        affiliation = draw(st.sampled_from(["", " · berkeley, mila", " · "]))
        lines.append(title + draw(name_list()) + affiliation)
        lines += draw(st.lists(phrase(), max_size=2))
        if draw(st.booleans()):
            lines.append("")
    return "\n".join(lines)


@st.composite
def blocks_text(draw, opening: list[str]) -> str:
    blocks = list(opening)
    for _ in range(draw(st.integers(0, 6))):
        blocks.append(
            draw(
                st.one_of(
                    phrase(), st.sampled_from(["arXiv.org Machine Learning", "Mar 11", "new"])
                )
            )
        )
    return draw(st.sampled_from(["\n\n", "\n"])).join(blocks)


SHAPED = {
    "bibtex": bibtex_text(),
    "arxiv": json_lines(),
    "tabular": st.one_of(json_lines(), table_text()),
    "profile": profile_text(),
    "collaborators": blocks_text(["Goto", "Collaborating Authors", " Yu, Yaodong"]),
    "search_results": st.builds(
        lambda body: "Get trending papers in your email inbox!\nSubscribe" + body,
        blocks_text([]),
    ),
    "daily": blocks_text(["new", "Subscribe", "byAK and the research community", "Mar 11"]),
}


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="replace")


@st.composite
def fuzzed_file(draw, name: str | None) -> tuple[bytes, str]:
    """(content, suffix): random bytes, random text, or text shaped like a format."""
    shaped = SHAPED[name] if name else st.one_of(*SHAPED.values())
    kind = draw(st.sampled_from(["bytes", "text", "shaped", "shaped", "shaped"]))
    if kind == "bytes":
        content = draw(st.binary(max_size=3000))
    else:
        text = draw(st.text(max_size=2000) if kind == "text" else shaped)
        content = encode(text, draw(st.sampled_from(ENCODINGS)))
    return content, draw(st.sampled_from(SUFFIXES))


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # hangs are caught by hang_guard; speed is not asserted
    suppress_health_check=list(HealthCheck),
)


# ---------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", FORMAT_MODULES)
@FUZZ_SETTINGS
@given(data=st.data())
def test_each_parser_survives_fuzzed_files(name, data, tmp_path_factory):
    content, suffix = data.draw(fuzzed_file(name))
    path = tmp_path_factory.getbasetemp() / f"fuzz_{name}{suffix}"
    path.write_bytes(content)
    check_parse(MODULES[name].parse, path, name)


@FUZZ_SETTINGS
@given(data=st.data())
def test_detect_and_parse_survive_fuzzed_files(data, tmp_path_factory):
    content, suffix = data.draw(fuzzed_file(None))
    path = tmp_path_factory.getbasetemp() / f"fuzz_any{suffix}"
    path.write_bytes(content)
    check_parse(parse_file, path, "parse_file (detect_format + parse)")


def _enormous(name: str) -> dict[str, bytes]:
    """Inputs of about 5 MB with one enormous line, shaped for a format, and deep nesting."""
    words = ("Ab Cd \\'e {x} é " * (BIG // 16)).encode()  # capitals, LaTeX, accents
    glued = ("AbCd" * (BIG // 4)).encode()  # capital after capital: every one a split point
    line = b"x" * BIG
    cases = {"plain line": words, "glued capitals": glued}
    if name == "bibtex":
        cases["abstract line"] = b"@article{k, title={T}, abstract={" + words + b"}}\n"
        cases["deep braces"] = (
            b"@article{k, title={" + braces(DEEP, "x").encode() + b"}, abstract={a}}\n"
        )
        cases["deep braces in abstract"] = (
            b"@article{k, title={T}, abstract={" + braces(2000, "\\'e x").encode() + b"}}\n"
        )
        cases["unclosed braces"] = b"@article{k, title={T}, abstract={" + b"{" * DEEP + b"\n"
    elif name in ("arxiv", "tabular"):
        record = b'{"id": "1", "title": "T", "categories": "cs.LG", "abstract": "'
        cases["abstract line"] = record + line + b'"}\n'
        cases["deep arrays"] = record + b'a", "versions": ' + b"[" * DEEP + b"]" * DEEP + b"}\n"
        cases["deep arrays first line"] = b'{"title": ' + b"[" * DEEP + b"]" * DEEP + b"}\n"
        cases["csv field"] = b'title,abstract\nT,"' + line + b'"\n'
    elif name == "profile":
        cases["title line"] = b"LGJun 1, 2023Code\n" + glued + b"Ann Lee\nAbstract.\n"
        cases["abstract line"] = b"LGJun 1, 2023Code\nTitleAnn Lee\n" + words + b"\n"
    elif name == "collaborators":
        cases["abstract block"] = (
            b"Goto\n\nCollaborating Authors\n\n Yu, Y\n\nTitle\n\n" + words + b".\n"
        )
    elif name == "search_results":
        cases["abstract line"] = b"Subscribe\nSubscribeTitle\n" + words + b".\n"
    elif name == "daily":
        cases["abstract block"] = b"byAK and the research community\n\nTitle\n\n" + words + b".\n"
    return cases


ENORMOUS = [(name, case) for name in FORMAT_MODULES for case in _enormous(name)]


@pytest.mark.parametrize(("name", "case"), ENORMOUS, ids=[f"{n}-{c}" for n, c in ENORMOUS])
def test_enormous_and_deeply_nested_inputs(name, case, tmp_path):
    suffix = {"bibtex": ".bib", "arxiv": ".json", "tabular": ".jsonl"}.get(name, ".txt")
    if case == "csv field":
        suffix = ".csv"
    path = tmp_path / f"big{suffix}"
    path.write_bytes(_enormous(name)[case])
    check_parse(MODULES[name].parse, path, f"{name} (enormous)")


def test_a_long_streamed_file_is_parsed_in_bounded_memory(tmp_path):
    """JSON lines are streamed: 10 MB of records must not be held in memory at once."""
    path = tmp_path / "many.jsonl"
    record = {"title": "A title {}", "abstract": "An abstract sentence. " * 40}
    with path.open("w") as f:
        for i in range(10_000):
            f.write(json.dumps({**record, "title": record["title"].format(i)}) + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in parse_file(path, ParseReport()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 10_000
    assert peak < size / 4, f"peak {peak:,} B for a {size:,} B file"


# A valid sample of each format, with non-ASCII text that Latin-1 can also encode.
SAMPLES = {
    "bibtex": "@article{k,\n  title = {Caf{\\'e} Networks},\n  author = {Müller, René and Ann Lee},\n"
    "  abstract = {We study café networks. Results improve by 5\\%.},\n  year = {2021}\n}\n",
    "arxiv": json.dumps(
        {
            "id": "2101.00001",
            "title": "Café Networks",
            "authors": "René Müller",
            "abstract": "We study café networks.",
            "categories": "cs.LG",
            "versions": [{"created": "Mon, 4 Jan 2021 10:00:00 GMT"}],
        },
        ensure_ascii=False,
    )
    + "\n",
    "tabular": "title,abstract,authors,year\nCafé Networks,We study café networks.,René Müller,2021\n",
    "profile": "LGJun 1, 2023Code\nCafé NetworksRené Müller, Ann Lee et al.\nWe study café networks.\n",
    "collaborators": "Goto\n\nCollaborating Authors\n\n Müller, René\n\nCafé Networks\n\n"
    "arXiv.org Machine Learning\n\nWe study café networks.\n",
    "search_results": "Get trending papers in your email inbox!\nSubscribeCafé Networks\n"
    "We study café networks.\n",
    "daily": "new\n\nSubscribe\n\nbyAK and the research community\n\nMar 11\n\nCafé Networks\n\n"
    "We study café networks.\n",
}
SUFFIX = {"bibtex": ".bib", "arxiv": ".json", "tabular": ".csv"}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", FORMAT_MODULES)
def test_every_encoding_gives_the_same_papers(name, encoding, tmp_path):
    """Latin-1, cp1252, UTF-16 with and without BOM, UTF-32, UTF-8 with BOM: same papers."""
    reference = tmp_path / f"utf8{SUFFIX.get(name, '.txt')}"
    reference.write_text(SAMPLES[name], encoding="utf-8")
    expected = [(p.title, p.abstract, p.authors) for p in parse_file(reference, ParseReport())]
    assert expected and expected[0][0] == "Café Networks"
    other = tmp_path / f"other{SUFFIX.get(name, '.txt')}"
    other.write_bytes(SAMPLES[name].encode(encoding))
    got = [(p.title, p.abstract, p.authors) for p in check_parse(parse_file, other, "encodings")]
    assert got == expected


def test_utf16_without_bom_is_not_mistaken_for_binary(tmp_path):
    path = tmp_path / "papers.csv"
    path.write_bytes(codecs.encode(SAMPLES["tabular"], "utf-16-le"))
    assert [p.title for p in parse_file(path, ParseReport())] == ["Café Networks"]
