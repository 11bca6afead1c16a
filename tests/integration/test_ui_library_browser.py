"""The Library tab's table in a real browser (Debian's Chromium through Playwright): a
header click sorts, "N of M papers shown", a note when the search and filters leave
nothing, headers that wrap only between words, and the hash-named Source file and Id
columns cut to one line with the full value on hover."""

from __future__ import annotations

import re

import pytest
import test_ui_browser as shared
from playwright.sync_api import Locator, Page, expect
from test_ui_browser import DESKTOP, open_page

from rag.engine import Engine
from ui import library

browser = shared.browser  # the same fixtures: Chromium, and the app served over the library
url = shared.url
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
TABLE = "#library-table"
SEARCH = "#library-table .search-input"
AUTHOR = "Yaodong Yu"  # 35 papers in the bundled library, most of them dated
UNDATED_TITLE = "A Closer Look at Smoothness in Domain Adversarial Training"

# The visible cells of one column, top to bottom.
COLUMN_JS = """(table, col) => [...table.querySelectorAll(`[role=gridcell][data-col="${col}"]`)]
    .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
    .map((cell) => cell.innerText.trim())"""
# How many lines each word of an element's text takes, and whether the text is cut off.
LAYOUT_JS = """(el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const words = {};
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const m of node.data.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, m.index);
            range.setEnd(node, m.index + m[0].length);
            const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            words[m[0]] = tops.size;
        }
    }
    const box = el.getBoundingClientRect();
    const clip = el.closest('.header-content, [role=gridcell]').getBoundingClientRect();
    const all = document.createRange();
    all.selectNodeContents(el);
    const tops = new Set([...all.getClientRects()].map((r) => Math.round(r.top)));
    return {
        words, lines: tops.size, cut: el.scrollWidth > el.clientWidth + 1,
        clipped: box.right > clip.right + 0.5, width: el.closest('th, [role=gridcell]').offsetWidth,
    };
}"""


def library_page(browser, url: str, dialogs: list[str]) -> Page:
    page = open_page(browser, url, DESKTOP, dialogs)
    page.get_by_role("tab", name="Library").click()
    expect(page.locator(f"{TABLE} [role=gridcell]").first).to_be_visible()
    return page


def header(page: Page, name: str) -> Locator:
    return page.locator(f"{TABLE} th[data-heading][title='{name}']")


def column(page: Page, name: str) -> list[str]:
    return page.locator(TABLE).evaluate(COLUMN_JS, library.COLUMNS.index(name))


def search(page: Page, text: str, shown: int) -> None:
    page.fill(SEARCH, text)
    expect(page.locator(TABLE).locator("[aria-rowcount]")).to_have_attribute(
        "aria-rowcount", str(shown + 1)
    )


def matching(engine: Engine, text: str) -> list[list[str]]:
    """The table rows the Dataframe's search keeps: any cell containing the text."""
    _, rows = library.library_view(engine)
    return [row for row in rows if any(text.lower() in cell.lower() for cell in row)]


def filter_column(page: Page, name: str, value: str) -> None:
    """Filter a column with its ⋮ menu: "contains" `value`."""
    header(page, name).hover()
    header(page, name).locator(".cell-menu-button").click()
    page.get_by_role("menuitem", name="Filter", exact=True).click()
    page.fill(".filter-menu input", value)
    page.click(".filter-menu .check-button")
    expect(header(page, name)).to_have_class(re.compile(r"\bfiltered\b"))


def test_a_header_click_sorts_by_that_column(browser, url, engine):
    dialogs: list[str] = []
    page = library_page(browser, url, dialogs)
    rows = matching(engine, AUTHOR)
    years = sorted(int(row[2]) for row in rows if row[2])
    search(page, AUTHOR, len(rows))
    year = header(page, "Year")

    year.click()
    expect(year.locator(".sort-indicator")).to_have_attribute("aria-label", "Sorted ascending")
    shown = column(page, "Year")
    assert shown == sorted(shown)  # blank years first, as text
    assert [int(y) for y in shown if y][0] == years[0]

    year.click()  # again: the other way
    expect(year.locator(".sort-indicator")).to_have_attribute("aria-label", "Sorted descending")
    shown = column(page, "Year")
    assert shown[0] == str(years[-1])
    assert shown == sorted(shown, reverse=True)
    newest = column(page, "Title")[0]
    page.locator(f"{TABLE} [role=gridcell]", has_text=newest).first.click()
    expect(page.locator("#paper-detail h3")).to_have_text(newest)  # the row clicked, sorted

    title = header(page, "Title")
    title.click()  # one column at a time: the year's sort goes
    expect(title.locator(".sort-indicator")).to_have_attribute("aria-label", "Sorted ascending")
    expect(year.locator(".sort-indicator")).to_have_count(0)
    initials = [name[0].lower() for name in column(page, "Title")]
    assert initials == sorted(initials)
    expect(page.locator(f"{TABLE} .cell-menu")).to_have_count(0)  # no menu left open
    expect(page.get_by_text("click a column header to sort")).to_be_visible()  # the hint
    assert dialogs == []
    page.close()


def test_the_count_line_says_how_many_papers_are_shown(browser, url, engine):
    dialogs: list[str] = []
    page = library_page(browser, url, dialogs)
    total = engine.count()
    line = page.locator("#library-status .library-shown")
    expect(line).to_have_text(f"{total} of {total} papers shown")
    shown = len(matching(engine, "adversarial"))
    assert 0 < shown < total
    search(page, "adversarial", shown)
    expect(line).to_have_text(f"{shown} of {total} papers shown")
    filter_column(page, "Year", "2025")
    rows = [row for row in matching(engine, "adversarial") if "2025" in row[2]]
    expect(line).to_have_text(f"{len(rows)} of {total} papers shown")
    assert dialogs == []
    page.close()


def test_an_empty_table_says_nothing_matches_and_how_to_clear(browser, url, engine):
    dialogs: list[str] = []
    page = library_page(browser, url, dialogs)
    total = engine.count()
    note = page.locator("#library-status .library-empty")
    expect(note).to_be_hidden()
    filter_column(page, "Year", "2025")
    search(page, UNDATED_TITLE, 0)  # a paper with no year: nothing passes both
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"No paper matches the search “{UNDATED_TITLE}”")
    expect(note).to_contain_text("the filter on Year")
    expect(page.locator("#library-status .library-shown")).to_have_text(
        f"0 of {total} papers shown"
    )
    clear = note.get_by_role("button", name="Clear search and filters")
    clear.click()
    expect(page.locator("#library-status .library-shown")).to_have_text(
        f"{total} of {total} papers shown"
    )
    expect(note).to_be_hidden()
    expect(page.locator(SEARCH)).to_have_value("")
    expect(page.locator(f"{TABLE} th.filtered")).to_have_count(0)

    search(page, "no such paper anywhere", 0)  # the search alone
    expect(note).to_contain_text("No paper matches the search “no such paper anywhere”.")
    note.get_by_role("button", name="Clear the search").click()
    expect(note).to_be_hidden()
    expect(page.locator(f"{TABLE} [role=gridcell]").first).to_be_visible()
    assert dialogs == []
    page.close()


def test_headers_wrap_only_between_words(browser, url):
    dialogs: list[str] = []
    page = library_page(browser, url, dialogs)

    def check(name: str, state: str) -> None:
        layout = header(page, name).locator(".header").evaluate(LAYOUT_JS)
        broken = [word for word, lines in layout["words"].items() if lines > 1]
        assert not broken, f"{name} ({state}): {broken} broken across lines"
        assert not layout["clipped"] and not layout["cut"], f"{name} ({state}) cut off: {layout}"

    for name in library.COLUMNS:
        check(name, "plain")
    for name in library.COLUMNS:  # with its sort icon and, hovered, the ⋮ button
        header(page, name).click()
        expect(header(page, name).locator(".sort-indicator")).to_have_count(1)
        header(page, name).hover()
        expect(header(page, name).locator(".cell-menu-button")).to_be_visible()
        check(name, "sorted, hovered")
    assert dialogs == []
    page.close()


def test_hash_named_columns_are_one_line_with_the_full_value_on_hover(browser, url, engine):
    dialogs: list[str] = []
    page = library_page(browser, url, dialogs)
    table = page.locator(TABLE)
    sources = table.locator(f"[role=gridcell][data-col='{library.COLUMNS.index('Source file')}']")
    ids = table.locator(f"[role=gridcell][data-col='{library.COLUMNS.index('Id')}']")
    expect(sources.first).to_be_visible()
    cut = 0
    for i in range(min(sources.count(), 8)):
        source, paper_id = sources.nth(i), ids.nth(i)
        for cell in (source, paper_id):
            layout = cell.locator(".cell-wrap > span").evaluate(LAYOUT_JS)
            assert layout["lines"] == 1, f"{cell.inner_text()!r} takes {layout['lines']} lines"
            assert layout["width"] <= 120  # narrow: the titles get the room
            if layout["cut"]:
                cut += 1
                cell.hover()
                expect(cell).to_have_attribute("title", cell.text_content().strip())
        full_id = paper_id.get_attribute("title") or paper_id.text_content().strip()
        paper = engine.paper(full_id)
        assert paper is not None, full_id
        full_source = source.get_attribute("title") or source.text_content().strip()
        assert full_source == ", ".join(paper.sources)
    assert cut > 0  # the bundled library's file names are cut short
    assert dialogs == []
    page.close()
