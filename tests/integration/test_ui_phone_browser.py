"""The chat on a phone and for assistive technology, in a real browser (Debian's
Chromium through Playwright): back from a source card to the marker that led there,
one scroll area on a 390 px screen, the chat's scroll arrow under the open sidebar,
a tap on a marker that previews before it jumps (Chromium's touch emulation), plain
accessible names, and the README's screenshots in both themes.

Screenshots go to test-artifacts/; with RAG_UPDATE_SCREENSHOTS=1 the chat's, in both
themes and both sizes, are also copied to docs/ for the README.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import test_ui_browser as shared
from playwright.sync_api import Page, expect
from test_ui_browser import (
    ANSWER_TIMEOUT,
    DESKTOP,
    PHONE,
    UAP_QUESTION,
    UAP_TITLE,
    ask,
    open_page,
)

browser = shared.browser  # the same fixtures: Chromium, and the app served over the library
url = shared.url
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
MARKERS = '#chatbot a[href^="#src-"]'
TABLET = {"width": 740, "height": 1000}  # narrow enough for Gradio's sidebar to cover the page
UPDATE_SCREENSHOTS = "RAG_UPDATE_SCREENSHOTS"  # set to 1 to copy the screenshots to docs/
SECOND_QUESTION = "How does sharpness-aware training for free avoid the extra cost of SAM?"

# Elements a pointer or keyboard user acts on, by the role Chromium gives them.
INTERACTIVE_ROLES = {
    "button", "link", "textbox", "searchbox", "combobox", "listbox", "option", "checkbox",
    "radio", "switch", "slider", "spinbutton", "tab", "menuitem", "DisclosureTriangle",
}  # fmt: skip
# The labels Gradio falls back to for a component given none: not a name.
GRADIO_DEFAULT_NAMES = {"Textbox", "Dropdown", "Button", "Chatbot", "Number", "Slider", "Checkbox"}

# Every element inside the chat and sources columns that scrolls on its own, and has
# something to scroll (the question box excepted: it grows to six lines, then scrolls).
INNER_SCROLLERS_JS = """() => [...document.querySelectorAll('.chat-layout *')]
    .filter((el) => el.tagName !== 'TEXTAREA' && el.offsetParent !== null)
    .filter((el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowY))
    .filter((el) => el.scrollHeight > el.clientHeight + 1)
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}#${el.id}`)"""
# The chat's scroll-down arrows that a point at their centre reaches (none covered).
UNCOVERED_ARROWS_JS = """() => [...document.querySelectorAll('#chatbot .scroll-down-button-container button')]
    .filter((button) => {
        const box = button.getBoundingClientRect();
        if (!box.width || !box.height) return false;
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return hit !== null && button.contains(hit);
    }).length"""


def ask_and_settle(page: Page, question: str = UAP_QUESTION) -> None:
    """Ask, then give the chatbot's own scroll-to-the-end (300 ms after an update) its turn."""
    ask(page, question)
    page.wait_for_timeout(1_000)


def assert_the_page_is_the_one_scroll_area(page: Page) -> None:
    """No scroll area inside the page, and the page alone brings the whole answer in."""
    assert page.evaluate(INNER_SCROLLERS_JS) == []
    answer = page.locator("#chatbot .answer-meta")
    answer.scroll_into_view_if_needed()
    expect(answer).to_be_in_viewport()


def touch_page(browser, url: str) -> Page:
    """A phone with a touch screen: Chromium's touch emulation, taps as touch events."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea", timeout=60_000)
    return page


def overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes share any area."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def card_of(page: Page, href: str):
    return page.locator("#sources .src-card", has=page.locator(href))


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_back_to_answer_returns_to_the_marker_that_was_followed(browser, url, viewport):
    dialogs: list[str] = []
    page = open_page(browser, url, viewport, dialogs)
    ask_and_settle(page)
    markers = page.locator(MARKERS)
    marker = markers.nth(markers.count() - 1)  # the last: others sit above and below it
    href = marker.get_attribute("href")
    marker.click()
    card = card_of(page, href)
    expect(card).to_be_in_viewport()
    expect(card).to_have_class(re.compile(r"\bsrc-focus\b"))
    if viewport is PHONE:  # the sources follow the chat: the marker is off screen now
        expect(marker).not_to_be_in_viewport()
    back = card.get_by_role("button", name="Back to answer")
    expect(back).to_have_count(1)  # on the focused card only
    expect(page.get_by_role("button", name="Back to answer")).to_have_count(1)
    back.click()
    expect(marker).to_be_in_viewport()
    expect(marker).to_be_focused()  # the keyboard goes on from where the reader was
    expect(page.locator("#marker-preview")).to_be_hidden()  # it was just seen
    # the same again from another marker: back leads to that one
    first = markers.first
    first.click()
    expect(card_of(page, first.get_attribute("href"))).to_be_in_viewport()
    page.get_by_role("button", name="Back to answer").click()
    expect(first).to_be_in_viewport()
    expect(first).to_be_focused()
    assert dialogs == []
    page.close()


def test_the_phone_page_scrolls_once_and_the_desktop_keeps_its_panels(browser, url):
    dialogs: list[str] = []
    phone = open_page(browser, url, PHONE, dialogs)
    ask_and_settle(phone)
    assert_the_page_is_the_one_scroll_area(phone)
    expect(phone.locator("#sources .src-card").first).to_contain_text(UAP_TITLE)
    assert phone.evaluate("document.documentElement.scrollHeight > window.innerHeight")
    phone.close()

    desktop = open_page(browser, url, DESKTOP, dialogs)
    ask_and_settle(desktop)
    for selector in ("#chatbot .panel-wrap", ".src-panel"):  # each a scroll area of its own
        overflow, bounded = desktop.locator(selector).evaluate(
            "el => [getComputedStyle(el).overflowY, el.clientHeight < window.innerHeight]"
        )
        assert (overflow, bounded) == ("auto", True), selector
    assert desktop.locator(".src-panel").evaluate("el => getComputedStyle(el).maxHeight") != "none"
    assert dialogs == []
    desktop.close()


def test_a_window_too_narrow_for_both_columns_beside_the_settings_scrolls_once(browser, url):
    """900 px with the settings open leaves the chat about 550 px: the chat and sources
    columns stack, as on a phone, and the page is again the one scroll area."""
    dialogs: list[str] = []
    page = open_page(browser, url, {"width": 900, "height": 800}, dialogs)
    expect(page.locator("#settings")).to_be_visible()
    ask_and_settle(page)
    chat = page.locator(".chat-column").bounding_box()
    sources = page.locator(".sources-column").bounding_box()
    assert chat and sources and sources["y"] >= chat["y"] + chat["height"] - 1  # stacked
    assert_the_page_is_the_one_scroll_area(page)
    assert dialogs == []
    page.close()


def test_on_a_phone_the_page_follows_the_answer_down(browser, url):
    # The page is the one scroll area at 390 px: the chatbot's own scrolling no longer
    # brings a growing answer into view, so the page must follow it.
    dialogs: list[str] = []
    page = open_page(browser, url, PHONE, dialogs)
    page.evaluate("window.scrollTo(0, 0)")
    ask_and_settle(page)
    expect(page.locator("#chatbot .answer-meta").last).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0
    page.evaluate("window.scrollTo(0, 0)")  # the reader scrolls up to read: left there
    page.wait_for_timeout(500)
    assert page.evaluate("window.scrollY") == 0
    page.fill("#question textarea", SECOND_QUESTION)  # a new question follows again
    page.click("#ask")
    expect(page.locator("#chatbot .answer-meta")).to_have_count(2, timeout=ANSWER_TIMEOUT)
    page.wait_for_timeout(1_000)
    expect(page.locator("#chatbot .answer-meta").last).to_be_in_viewport()
    assert dialogs == []
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, TABLET], ids=["phone", "tablet"])
def test_the_chat_scroll_arrow_stays_under_the_open_sidebar(browser, url, viewport):
    dialogs: list[str] = []
    page = open_page(browser, url, viewport, dialogs)
    ask_and_settle(page)
    page.locator("#chatbot .panel-wrap").evaluate("el => el.scrollTo(0, 0)")  # up the chat
    arrow = page.locator("#chatbot .scroll-down-button-container button")
    if viewport is TABLET:  # the chat scrolls on its own here: its arrow shows
        expect(arrow).to_be_visible()
        assert page.evaluate(UNCOVERED_ARROWS_JS) == 1
    sidebar = page.locator("#settings")
    expect(sidebar).not_to_have_class(re.compile(r"\bopen\b"))  # closed on small screens
    page.locator("#settings .toggle-button").click()
    expect(sidebar).to_have_class(re.compile(r"\bopen\b"))
    # slid all the way in (a 0.3 s transition)
    page.wait_for_function("document.querySelector('#settings').getBoundingClientRect().left >= 0")
    assert page.evaluate(UNCOVERED_ARROWS_JS) == 0  # the sidebar covers the chat, arrow too
    page.get_by_label("Authors").click()  # the sidebar's controls take taps
    expect(page.get_by_label("Authors")).to_be_focused()
    assert dialogs == []
    page.close()


def test_a_tap_on_a_marker_previews_its_source_before_going_there(browser, url):
    page = touch_page(browser, url)
    assert page.evaluate("matchMedia('(hover: none)').matches")  # a touch screen
    ask_and_settle(page)
    preview = page.locator("#marker-preview")
    marker = page.locator(MARKERS).first
    href = marker.get_attribute("href")
    card = card_of(page, href)
    title = card.locator(".src-title").inner_text().strip()

    marker.tap()  # the first tap: the preview, and no jump
    expect(preview).to_be_visible()
    expect(preview).to_contain_text(title)
    expect(card).not_to_have_class(re.compile(r"\bsrc-focus\b"))
    assert page.evaluate("location.hash") == ""
    go = preview.get_by_role("button", name="Go to source")
    expect(go).to_be_visible()

    elsewhere = page.locator("#chatbot .answer-meta").last  # in view: the page followed
    expect(elsewhere).to_be_in_viewport()
    assert not overlap(elsewhere.bounding_box(), preview.bounding_box())
    elsewhere.tap()  # a tap elsewhere closes it
    expect(preview).to_be_hidden()
    expect(card).not_to_have_class(re.compile(r"\bsrc-focus\b"))

    marker.tap()
    expect(preview).to_be_visible()
    marker.tap()  # a second tap on the same marker goes to the source
    expect(preview).to_be_hidden()
    page.wait_for_function(f"location.hash === '{href}'")
    expect(card).to_have_class(re.compile(r"\bsrc-focus\b"))
    expect(card).to_be_in_viewport()

    page.get_by_role("button", name="Back to answer").tap()
    expect(marker).to_be_in_viewport()
    other = page.locator(MARKERS).last
    other_href = other.get_attribute("href")
    other.tap()
    expect(preview).to_be_visible()
    go.tap()  # or "Go to source" in the preview
    expect(preview).to_be_hidden()
    page.wait_for_function(f"location.hash === '{other_href}'")
    expect(card_of(page, other_href)).to_be_in_viewport()
    expect(page.locator(other_href)).to_have_class(re.compile(r"\bsrc-focus\b"))
    page.context.close()


def accessible_names(page: Page) -> list[tuple[str, str]]:
    """(role, name) of every interactive element in Chromium's accessibility tree."""
    session = page.context.new_cdp_session(page)
    nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    session.detach()
    return [
        (node["role"]["value"], (node.get("name") or {}).get("value", ""))
        for node in nodes
        if not node.get("ignored") and node.get("role", {}).get("value") in INTERACTIVE_ROLES
    ]


def plain_words(name: str) -> bool:
    """A name read out as words: some letters, no markup, no link syntax, no anchor, no
    word said twice in a row ("Settings Settings"), no image or arrow read out."""
    return (
        bool(re.search(r"[^\W\d_]", name))
        and name.strip() not in GRADIO_DEFAULT_NAMES
        and not any(bit in name for bit in ("<", "](#", "#src-", "\u25bc", "\u25b6"))
        and not re.search(r"\b(\w+) \1\b", name)
        and not re.search(r"\b(?:logo|icon|img)\s*$", name)
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_control_and_marker_has_a_name_in_plain_words(browser, url, viewport):
    dialogs: list[str] = []
    page = open_page(browser, url, viewport, dialogs)
    ask_and_settle(page)
    names = accessible_names(page)
    roles = {role for role, _ in names}
    assert {"button", "link", "textbox", "combobox", "checkbox", "tab"} <= roles
    assert [(role, name) for role, name in names if not plain_words(name)] == []
    assert ("textbox", "Question") in names  # the question box says what it is for
    assert ("button", "Reset Top-k papers to its default") in names  # names its slider
    page.locator(MARKERS).first.click()  # then the focused card's own control too
    expect(page.get_by_role("button", name="Back to answer")).to_have_count(1)
    names = accessible_names(page)
    assert ("button", "Back to answer") in names
    assert [(role, name) for role, name in names if not plain_words(name)] == []

    markers = page.locator(MARKERS)
    assert markers.count() >= 2
    for i in range(markers.count()):
        marker = markers.nth(i)
        n = marker.inner_text().strip("[] \n")
        title = card_of(page, marker.get_attribute("href")).locator(".src-title")
        expected = f"Source {n}: {title.inner_text().removesuffix('↗').strip()}"
        expect(marker).to_have_attribute("aria-label", expected)
        assert ("link", expected) in names
    assert dialogs == []
    page.close()


@pytest.mark.parametrize(
    ("tab", "own"),
    [("Library", ("button", "Add to library")), ("Evaluate", ("button", "Run eval"))],
)
def test_every_control_on_the_other_tabs_has_a_name_in_plain_words(browser, url, tab, own):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    page.get_by_role("tab", name=tab).click()
    expect(page.get_by_role("tab", name=tab)).to_have_attribute("aria-selected", "true")
    page.wait_for_timeout(500)  # the tab's content rendered
    names = accessible_names(page)
    assert own in names  # the tab's own controls are in the tree
    assert [(role, name) for role, name in names if not plain_words(name)] == []
    assert dialogs == []
    page.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_screenshots_of_the_chat_in_both_themes(browser, url, viewport, theme):
    dialogs: list[str] = []
    page = open_page(browser, url + ("?__theme=dark" if theme == "dark" else ""), viewport, dialogs)
    ask_and_settle(page)
    expect(page.locator(MARKERS).first).to_be_visible()
    expect(page.locator("#sources .src-card").first).to_contain_text(UAP_TITLE)
    dark = page.evaluate("document.body.classList.contains('dark')")
    background = page.evaluate(
        "getComputedStyle(document.querySelector('gradio-app')).backgroundColor"
    )
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert dark == (theme == "dark")
    assert (red + green + blue < 3 * 96) == (theme == "dark"), background  # the page follows
    size = "desktop" if viewport is DESKTOP else "phone"
    page.evaluate("window.scrollTo(0, 0)")
    path = shared.shot(page, f"{size}-{theme}-chat")
    assert page.evaluate("window.innerWidth") == viewport["width"]
    if os.environ.get(UPDATE_SCREENSHOTS) == "1":
        shutil.copyfile(path, shared.ROOT / "docs" / f"screenshot-{size}-{theme}.png")
    page.locator(MARKERS).first.click()  # the highlighted card follows the theme too
    page.wait_for_function(
        f"""() => {{
            const card = document.querySelector('#sources .src-card.src-focus');
            const background = getComputedStyle(card).backgroundColor;  // starts its transition
            if (card.getAnimations().length) return false;  // the colour it ends at
            const [r, g, b] = background.match(/\\d+/g).map(Number);
            return (r + g + b < 3 * 96) === {"true" if theme == "dark" else "false"};
        }}"""
    )
    assert dialogs == []
    page.close()
