"""The chat in a real browser (Debian's Chromium through Playwright), past the first
answer: citation links under any URL, each marker's own evidence, clearing, copying,
exporting the conversation, over-long questions and the active filters."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import test_ui_browser as shared
from playwright.sync_api import Page, expect
from test_ui_browser import (
    ANSWER_TIMEOUT,
    DESKTOP,
    UAP_QUESTION,
    UAP_TITLE,
    ask,
    dropdown_options,
    open_page,
)

from ui.history import TITLE_CHARS

browser = shared.browser  # the same fixtures: Chromium, and the app served over the library
url = shared.url
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
SAM_QUESTION = "How does sharpness-aware training for free avoid the extra cost of SAM?"
CRATE_QUESTION = (
    "How do white-box transformers relate compression via sparse rate reduction to attention?"
)
AUTHOR = "Yaodong Yu"  # 35 papers in the bundled library


def bubbles(page: Page, role: str) -> int:
    """How many messages of `role` ("user" or "bot") the chatbot shows."""
    return page.locator(f"#chatbot [data-testid={role}]").count()


def claim_of(page: Page, marker) -> str:
    """The answer text between the marker and the marker (or paragraph start) before it."""
    return marker.evaluate(
        """a => {
        let text = '';
        for (let node = a.previousSibling; node; node = node.previousSibling) {
            if (node.nodeName === 'A') break;
            text = node.textContent + text;
        }
        return text.replace(/^[\\s.]+/, '').trim();
    }"""
    )


def test_citation_click_keeps_the_chat_when_the_url_has_a_query(browser, url):
    # Gradio's <base href="./"> resolves "#src-…" against the base: a plain link
    # would load "/" without the query, wiping the chat.
    dialogs: list[str] = []
    page = open_page(browser, url + "?__theme=dark", DESKTOP, dialogs)
    ask(page, UAP_QUESTION)
    marker = page.locator('#chatbot a[href^="#src-"]').first
    href = marker.get_attribute("href")
    marker.click()
    page.wait_for_function(f"location.hash === '{href}'")
    assert page.evaluate("location.search") == "?__theme=dark"
    expect(page.locator("#chatbot")).to_contain_text(UAP_QUESTION)  # not reloaded
    card = page.locator("#sources .src-card", has=page.locator(href))
    expect(card).to_be_in_viewport()
    expect(card).to_contain_text(UAP_TITLE)
    # highlighted; the card eases into it (.3 s transition), so poll
    expect(card).to_have_css("box-shadow", re.compile(r"245, 158, 11"))
    assert dialogs == []
    page.close()


def test_hovering_a_marker_previews_its_paper_and_sentence(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    ask(page, CRATE_QUESTION)  # papers with authors and a year
    preview = page.locator("#marker-preview")
    expect(preview).to_be_hidden()
    markers = page.locator("#chatbot a[href^='#src-']")
    for i in range(min(markers.count(), 3)):
        marker = markers.nth(i)
        href = marker.get_attribute("href")
        marker.hover()
        expect(preview).to_be_visible()
        card = page.locator("#sources .src-card", has=page.locator(href))
        title = card.locator(".src-title").inner_text().strip()
        sentence = " ".join(page.locator(href).locator("mark").first.inner_text().split())
        shown = " ".join(preview.inner_text().split())
        assert shown.startswith(f"{marker.inner_text().strip()} {title}")
        facts = " ".join(card.locator(".src-facts").inner_text().split())
        assert facts and facts in shown  # authors and year
        assert f"\u201c{sentence}\u201d" in shown  # the marker's own sentence
        assert "support" in shown
        box, mark = preview.bounding_box(), marker.bounding_box()
        assert box["y"] >= mark["y"] + mark["height"] or box["y"] + box["height"] <= mark["y"]
    marker = markers.first
    marker.hover()  # the README's picture of a preview
    expect(preview).to_be_visible()
    shot = shared.shot(page, "desktop-hover")
    if os.environ.get("RAG_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, shared.ROOT / "docs" / "screenshot-hover.png")
    page.mouse.move(5, 5)
    expect(preview).to_be_hidden()
    markers.first.focus()  # the keyboard gets the same preview
    expect(preview).to_be_visible()
    page.keyboard.press("Escape")
    expect(preview).to_be_hidden()
    assert dialogs == []
    page.close()


def test_each_marker_highlights_the_sentence_of_its_own_claim(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    ask(page, UAP_QUESTION)  # the answer quotes several sentences of paper [1]
    markers = page.locator("#chatbot a[href^='#src-']", has_text="[1]")
    assert markers.count() >= 2
    hrefs = [markers.nth(i).get_attribute("href") for i in range(markers.count())]
    for i, href in enumerate(hrefs):
        claim = " ".join(claim_of(page, markers.nth(i)).split())
        marked = page.locator(href).locator("mark").first  # in what the marker points at
        highlighted = " ".join(marked.inner_text().split())
        # the extractive answer quotes its evidence: the claim is the sentence
        assert highlighted.rstrip(".") == claim.rstrip("."), (claim, highlighted)
    for i, href in enumerate(hrefs):
        markers.nth(i).click()
        expect(page.locator(href)).to_be_in_viewport()
        expect(page.locator(href)).to_have_class(re.compile(r"\bsrc-focus\b"))  # highlighted
    assert len(set(hrefs)) == len(hrefs)  # each claim its own sentence
    assert dialogs == []
    page.close()


def test_the_chatbot_clear_button_clears_the_conversation(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    ask(page, UAP_QUESTION)
    page.locator("#chatbot button[aria-label='Clear']").click()
    expect(page.locator("#chatbot [data-testid=user]")).to_have_count(0)
    expect(page.locator("#sources")).not_to_contain_text(UAP_QUESTION)
    expect(page.locator("#export")).to_be_disabled()
    ask(page, SAM_QUESTION)
    chat = page.locator("#chatbot")
    expect(chat).to_contain_text(SAM_QUESTION)
    expect(chat).not_to_contain_text(UAP_QUESTION)  # the old turn does not come back
    assert bubbles(page, "user") == 1
    expect(page.locator("#sources")).not_to_contain_text(UAP_QUESTION)
    assert dialogs == []
    page.close()


def test_copy_gives_plain_text_with_the_references(browser, url):
    context = browser.new_context(
        viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea", timeout=60_000)
    ask(page, UAP_QUESTION)
    answer = page.locator("#chatbot [data-testid=bot]").first
    shown = " ".join(answer.inner_text().split())
    page.locator("#chatbot .bot-row button[aria-label='Copy message']").first.click()
    page.wait_for_function("navigator.clipboard.readText().then(t => t.includes('References'))")
    copied = page.evaluate("navigator.clipboard.readText()")
    text, _, references = copied.partition("\n\nReferences\n")
    assert " ".join(text.split()) == shown  # what the answer shows, markers as [n]
    assert references.splitlines()[0].startswith(f"[1] {UAP_TITLE}")  # (year). link if known
    for markup in ("](#src-", "<div", "answer-meta", "&#"):
        assert markup not in copied

    page.locator("#chatbot button[aria-label='Copy conversation']").click()
    page.wait_for_function(
        "q => navigator.clipboard.readText().then(t => t.startsWith(q))", arg=UAP_QUESTION
    )
    everything = page.evaluate("navigator.clipboard.readText()")
    assert everything == f"{UAP_QUESTION}\n\n{copied}"
    context.close()


def test_export_is_disabled_when_empty_and_holds_the_whole_conversation(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    export = page.locator("#export")
    expect(export).to_be_disabled()
    ask(page, UAP_QUESTION)
    page.fill("#question textarea", SAM_QUESTION)
    page.click("#ask")
    expect(page.locator("#chatbot .answer-meta")).to_have_count(2, timeout=ANSWER_TIMEOUT)
    expect(export).to_be_enabled()
    with page.expect_download() as download:
        export.click()
    markdown = Path(download.value.path()).read_text(encoding="utf-8")
    first, second = markdown.index("# " + UAP_QUESTION), markdown.index("# How does sharpness")
    assert first < second
    assert markdown.count("## References") == 2 and markdown.count("## BibTeX") == 2
    assert UAP_TITLE in markdown[first:second] and "Sharpness-Aware Training for Free" in markdown
    page.click("#new-chat")
    expect(export).to_be_disabled()
    assert dialogs == []
    page.close()


def test_a_too_long_question_is_refused_before_it_lands_in_the_chat(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    question = ("Which method crafts universal adversarial perturbations? " * 100)[:5000]
    page.fill("#question textarea", question)
    page.click("#ask")
    toast = page.locator(".toast-body", has_text="characters")
    expect(toast).to_contain_text("5,000 characters")
    expect(toast).to_contain_text("limit is 2,000 characters")
    assert "RAG_" not in toast.inner_text()
    assert bubbles(page, "user") == 0 and bubbles(page, "bot") == 0
    assert page.input_value("#question textarea") == question  # kept, to shorten
    assert dialogs == []
    page.close()


def test_active_filters_are_chips_not_citation_warnings(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    page.get_by_label("Authors").fill(AUTHOR)
    ask(page, "What do they find about robustness?")
    for warning in page.locator("#chatbot .answer-warnings").all_inner_texts():
        assert "filtered by" not in warning.lower()  # not a citation problem
    expect(page.locator("#chatbot .answer-filters")).to_contain_text(f"author {AUTHOR}")
    chip = page.locator("#chip-authors")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text(AUTHOR)
    chip.click()  # one click removes the filter
    expect(page.get_by_label("Authors")).to_have_value("")
    expect(chip).to_be_hidden()
    expect(page.locator("#filter-chips")).to_be_hidden()
    assert dialogs == []
    page.close()


def short(question: str) -> str:
    """A chat's name in the list: its first question, cut at TITLE_CHARS."""
    return question if len(question) <= TITLE_CHARS else question[: TITLE_CHARS - 1] + "…"


def test_the_conversation_survives_a_reload_and_past_chats_reopen(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    ask(page, UAP_QUESTION)
    answer = page.locator("#chatbot [data-testid=bot]").first.inner_text()
    # stored once the list of past chats shows it (the save follows the answer)
    expect(page.locator("#past-chats input")).to_have_value(short(UAP_QUESTION))
    page.reload()
    page.wait_for_selector("#question textarea", timeout=60_000)
    asked = page.locator("#chatbot [data-testid=user]")  # not the empty chat's examples
    expect(asked).to_have_text(UAP_QUESTION, timeout=60_000)  # reopened, not lost
    assert page.locator("#chatbot [data-testid=bot]").first.inner_text() == answer
    expect(page.locator("#sources .src-card").first).to_contain_text(UAP_TITLE)
    marker = page.locator('#chatbot a[href^="#src-"]').first
    marker.click()  # the restored markers still lead to their sentences
    expect(page.locator(marker.get_attribute("href"))).to_be_in_viewport()
    expect(page.locator("#export")).to_be_enabled()

    page.click("#new-chat")
    expect(asked).to_have_count(0)
    ask(page, CRATE_QUESTION)
    assert dropdown_options(page, "past-chats") == [short(CRATE_QUESTION), short(UAP_QUESTION)]

    page.click("#question textarea")  # away from the list, then open it
    page.click("#past-chats input")  # reopen the first chat
    page.locator(
        f'#past-chats [data-testid=dropdown-option][aria-label="{short(UAP_QUESTION)}"]'
    ).click()
    expect(asked).to_have_count(1)
    expect(asked).to_have_text(UAP_QUESTION)
    expect(page.locator("#sources")).to_contain_text(UAP_TITLE)

    page.click("#delete-chat")  # the open chat: gone from the list, and a new chat
    expect(asked).to_have_count(0)
    assert dropdown_options(page, "past-chats") == [short(CRATE_QUESTION)]
    page.reload()
    page.wait_for_selector("#question textarea", timeout=60_000)
    expect(asked).to_have_text(CRATE_QUESTION, timeout=60_000)  # the newest left
    assert dropdown_options(page, "past-chats") == [short(CRATE_QUESTION)]
    assert dialogs == []
    page.close()
