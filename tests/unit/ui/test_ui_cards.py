"""ui.cards: answer Markdown with linked markers and the source cards (pure), and the
pure parts around them: each marker's evidence, the copy text, filter notes, export."""

from __future__ import annotations

import re

from rag.types import Answer, Citation, Hit, Paper
from ui import cards, chat, copytext, evidence, filterchips

XSS_TITLE = "<script>alert(1)</script> Robust ${alert(2)} {{x}} Retrieval"
XSS = Paper.create(
    XSS_TITLE,
    "We study <img src=x onerror=alert(3)> injection. [click me](javascript:alert(4)) "
    "Retrieval stays robust to hostile markup. A third sentence.",
    authors=["Eve <b>Mallory</b>"],
    year=2024,
    category="CR",
    url="javascript:alert(5)",
)
UAP = Paper.create(
    "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations",
    "Machine learning models are susceptible to adversarial perturbations. In this paper, we "
    "present a novel, generalizable and data-free approach for crafting universal adversarial "
    "perturbations. Independent of the underlying task, our objective achieves fooling.",
    authors=["Konda Reddy Mopuri", "Aditya Ganeshan", "R. Venkatesh Babu", "Fourth Author"],
    year=2018,
    category="CV",
    arxiv_id="1801.08092",
)
OTHER = Paper.create("An Uncited Neighbour", "It was retrieved. Nobody cited it.", year=2020)


def _answer(text: str, citations: tuple[Citation, ...], hits: tuple[Hit, ...], **kw) -> Answer:
    return Answer(
        "Which method?", text, False, citations, hits, kw.pop("backend", "extractive"), 0.25, **kw
    )


def _uap_answer(**kw) -> Answer:
    snippet = (
        "In this paper, we present a novel, generalizable and data-free approach for crafting "
        "universal adversarial perturbations."
    )
    hits = (
        Hit(UAP, 0.9, UAP.abstract),
        Hit(XSS, 0.5, XSS.abstract),
        Hit(OTHER, 0.1, OTHER.abstract),
    )
    citations = (
        Citation(1, UAP, snippet, 0.93),
        Citation(2, XSS, "Retrieval stays robust to hostile markup.", 0.31),
    )
    text = "A data-free objective crafts UAPs [1]. Markup stays text [2]. Why [3]?"
    return _answer(text, citations, hits, **kw)


def test_esc_escapes_html_and_template_syntax():
    out = cards.esc(XSS_TITLE)
    assert "<" not in out and ">" not in out
    assert "${" not in out and "{{" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_safe_url_accepts_only_http():
    assert cards.safe_url("https://arxiv.org/abs/1801.08092") == "https://arxiv.org/abs/1801.08092"
    for bad in ("javascript:alert(1)", "data:text/html,x", 'https://x.org/" onclick="a', None, ""):
        assert cards.safe_url(bad) is None


def test_answer_markdown_links_each_cited_number_to_its_card():
    md = cards.answer_markdown("Claim one [1]. Both [1, 2]. Range [1-2]. Bad [7].", "t9", {1, 2})
    assert md.count("](#src-t9-1)") == 3
    assert md.count("](#src-t9-2)") == 2
    assert "[[1]](#src-t9-1)[[2]](#src-t9-2)" in md
    assert "\\[7\\]" in md and "#src-t9-7" not in md  # not a citation: plain text


def test_answer_markdown_escapes_paper_text_but_keeps_list_structure():
    text = "- <script>alert(1)</script> [x](javascript:y) *z* [1]\n- second [2]"
    md = cards.answer_markdown(text, "t", {1, 2})
    assert "<script" not in md
    assert "\\[x\\](javascript:y)" in md
    assert "\\*z\\*" in md
    assert md.startswith("- ") and "\n- second" in md


def test_streaming_markdown_escapes_partial_text():
    assert cards.streaming_markdown("<b>half [1") == "&lt;b>half \\[1"


def test_highlight_marks_the_snippet_inside_the_escaped_abstract():
    html = cards.highlight(XSS.abstract, "Retrieval stays robust to hostile markup.")
    assert "<mark>Retrieval stays robust to hostile markup.</mark>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(3)&gt;" in html
    # whitespace and case differences still match
    assert "<mark>" in cards.highlight("A  b\nC. D.", "a b c.")
    # an unknown snippet leaves the abstract unmarked
    assert "<mark>" not in cards.highlight(XSS.abstract, "Never said.")


def test_excerpt_shows_context_around_the_snippet():
    long_abstract = "Lead words here. " * 30 + "The key sentence. " + "Tail words follow. " * 30
    out = cards.excerpt(long_abstract, "The key sentence.", chars=40)
    assert out.startswith("…") and out.endswith("…")
    assert "<mark>The key sentence.</mark>" in out
    assert len(re.sub(r"<[^>]+>", "", out)) < 120


def test_citation_card_content():
    answer = _uap_answer()
    card = cards.citation_card(answer.citations[0], "abc")
    assert 'id="src-abc-1"' in card
    assert UAP.title in card
    assert "Konda Reddy Mopuri, Aditya Ganeshan, R. Venkatesh Babu et al." in card
    assert "2018" in card and "CV" in card
    assert 'href="https://arxiv.org/abs/1801.08092"' in card and 'rel="noopener noreferrer"' in card
    assert "<mark>In this paper, we present" in card
    assert "<details><summary>Full abstract</summary>" in card
    assert "support 0.93" in card and "weak" not in card


def test_missing_metadata_is_left_out_not_filled_in():
    bare = Paper.create("A paper with no metadata", "We study something. It works.")
    card = cards.citation_card(Citation(1, bare, "It works.", 0.9), "t")
    detail = cards.paper_detail_html(bare)
    for html in (card, detail):
        assert "unknown" not in html.lower()
    assert '<span class="src-facts"></span>' in card
    assert "<th>Authors</th>" not in detail and "<th>Year</th>" not in detail
    # a paper with no link has a plain title, not a dead one
    assert '<span class="src-title">A paper with no metadata</span>' in card


def test_a_citation_that_quotes_nothing_shows_no_empty_quote():
    """A refusal's "the abstract of [1] does not give ..." cites the paper, no sentence."""
    paper = Paper.create("A system card", "We describe a model. It is safe.")
    card = cards.citation_card(Citation(1, paper, "", None), "t")
    assert "src-snippet" not in card and "<mark></mark>" not in card
    assert "A system card" in card


def test_hostile_card_is_inert_and_weak_support_is_flagged():
    answer = _uap_answer()
    card = cards.citation_card(answer.citations[1], "abc")
    assert "<script" not in card and "<img" not in card and "<b>" not in card
    assert "href=" not in card  # the javascript: URL is dropped, the title is plain text
    assert "&lt;script&gt;" in card
    assert "support 0.31 (weak)" in card and 'class="src-support weak"' in card


def test_turn_cards_cover_every_linked_marker_and_uncited_on_demand():
    answer = _uap_answer()
    assert cards.linkable_numbers(answer) == {1, 2, 3}  # [3] sits in a question: no Citation
    hidden = cards.turn_cards(answer, "t", show_uncited=False)
    assert 'id="src-t-1"' in hidden and 'id="src-t-2"' in hidden and 'id="src-t-3"' in hidden
    assert "not scored" in hidden
    assert "Also retrieved" not in hidden

    only_cited = _answer("Only one [1].", answer.citations[:1], answer.hits)
    shown = cards.turn_cards(only_cited, "t", show_uncited=True)
    assert "Also retrieved, not cited" in shown
    assert OTHER.title in shown and 'id="src-t-r3"' in shown
    assert shown.count(UAP.title) == 1  # a cited paper is not repeated as uncited


def test_cards_panel_lists_newest_answer_first():
    first = _uap_answer()
    second = _answer(
        "Neighbour [1].", (Citation(1, OTHER, "It was retrieved.", 0.8),), (Hit(OTHER, 1.0, ""),)
    )
    panel = cards.cards_panel([("a", first), ("b", second)], False)
    assert panel.index('id="src-b-1"') < panel.index('id="src-a-1"')
    assert "Click a [n] marker" in cards.cards_panel([], False)


def test_answer_notes_show_fallback_and_warnings_escaped():
    answer = _uap_answer(
        backend="extractive (fallback from openai)",
        warnings=("weakly supported claim: '<img src=x onerror=alert(1)>'",),
    )
    notes = cards.answer_notes_html(answer)
    assert "answered by extractive (fallback from openai)" in notes
    assert "<img" not in notes and "&lt;img" in notes
    assert "2 sources cited of 3 retrieved" in notes
    plain = cards.answer_notes_html(_uap_answer())
    assert "fallback" not in plain and "Citation check" not in plain


def test_paper_detail_escapes_everything():
    html = cards.paper_detail_html(XSS)
    assert "<script" not in html and "<b>" not in html and "<img" not in html
    assert "Eve &lt;b&gt;Mallory&lt;/b&gt;" in html
    assert XSS.paper_id in html


def test_the_ui_docstring_examples_hold():
    import doctest

    for module in (cards, copytext, evidence, filterchips):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_each_marker_links_to_the_sentence_behind_its_own_claim(embedder):
    first = "Machine learning models are susceptible to adversarial perturbations."
    second = "Independent of the underlying task, our objective achieves fooling."
    answer = _answer(
        f"{first} [1] {second} [1]",
        (Citation(1, UAP, second, 0.9),),  # the engine keeps one sentence per paper
        (Hit(UAP, 0.9, UAP.abstract),),
    )
    found = evidence.marker_evidence(answer, embedder.embed)
    assert [e.snippet for e in found.values()] == [first, second]
    md = cards.answer_markdown(answer.text, "t", {1}, found)
    assert md.count("](#src-t-1-1)") == 1 and md.index("#src-t-1-1") < md.index("#src-t-1-2")
    card = cards.turn_cards(answer, "t", False, found)
    assert 'id="src-t-1"' in card and 'id="src-t-1-1"' in card and 'id="src-t-1-2"' in card
    assert card.count("<mark>") == 4  # each sentence in its excerpt and in the abstract
    # a refusal cites what a paper lacks: no sentence to point at
    refusal = _answer("I cannot answer this [1].", (Citation(1, UAP, ""),), answer.hits)
    assert evidence.marker_evidence(refusal, embedder.embed) == {}


def test_copy_text_is_the_answer_and_its_references():
    answer = _uap_answer()
    text = copytext.answer_text(answer, cards.linkable_numbers(answer))
    assert text.startswith(answer.text + "\n\nReferences\n")
    lines = text.split("\n\nReferences\n")[1].splitlines()
    assert lines[0] == f"[1] {UAP.title} (2018). https://arxiv.org/abs/1801.08092"
    assert lines[1] == f"[2] {XSS.title} (2024)."  # a javascript: link is no link
    assert lines[2] == f"[3] {OTHER.title} (2020)."  # a marker with no scored citation
    notes = cards.answer_notes_html(answer)
    hidden = re.search(r'<div class="answer-copy">(.*?)</div>', notes).group(1)
    assert "\n" not in hidden and "<script" not in hidden  # one HTML block, escaped


def test_filter_notes_are_not_citation_warnings():
    answer = _uap_answer(
        notes=("filtered by author Yi Ma (3 papers)",), warnings=("uncited claim: 'Why?'",)
    )
    notes = cards.answer_notes_html(answer)
    filters = re.search(r'<div class="answer-filters">(.*?)</div>', notes).group(1)
    warnings = re.search(r'<div class="answer-warnings">(.*?)</div>', notes).group(1)
    assert filters == "Filtered by author Yi Ma (3 papers)"
    assert "filtered" not in warnings and "uncited claim" in warnings
    only_filter = cards.answer_notes_html(_uap_answer(notes=("filtered by year 2020 (1 paper)",)))
    assert "Citation check" not in only_filter
    assert filterchips.labels("", "any", "2022", ["LG", "CV"]) == {
        "authors": None,
        "since": None,
        "until": "to 2022 ✕",
        "categories": "category: LG, CV ✕",
    }


def test_the_export_holds_every_turn():
    first, second = (
        _uap_answer(),
        _answer("Neighbour [1].", (Citation(1, OTHER, "x", 0.8),), (Hit(OTHER, 1.0, ""),)),
    )
    markdown = chat.conversation_markdown([first, second])
    assert markdown.count("# Which method?") == 2
    assert markdown.count("## References") == 2 and markdown.count("## BibTeX") == 2
    assert markdown.index(UAP.title) < markdown.index(OTHER.title)
