"""The app in a real browser (Debian's Chromium through Playwright): ask, click a
citation, upload, the eval chart, and hostile paper text that must stay text
(the rest of the chat: test_ui_chat_browser.py).

Screenshots (desktop 1280x800 and phone 390x844) go to test-artifacts/; with
RAG_UPDATE_SCREENSHOTS=1 the desktop chat's is copied to docs/screenshot-chat.png for
the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from ui_server import launch

from rag.config import Config
from rag.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
UAP_QUESTION = "Which method crafts universal adversarial perturbations without any training data?"
UAP_TITLE = "Generalizable Data-free Objective for Crafting Universal Adversarial Perturbations"
ANSWER_TIMEOUT = 300_000  # ms; the machine is shared, an answer can take a while
DAILY_LISTING = """new

Get trending papers in your email inbox!

Subscribe

byAK and the research community

Apr 2

Lichen Transformers: Attention Over Symbiotic Fungal Networks

We model lichen growth as message passing between fungal and algal partners. Lichen transformers predict colony expansion on bare rock three times more accurately than diffusion baselines.

Apr 2

Glacier Tokenizers for Long-Horizon Ice Sheet Forecasting

We compress decades of satellite ice sheet imagery into discrete glacier tokens. A forecaster trained on glacier tokens predicts calving events up to eighteen months ahead.
"""
XSS_TITLE = "<script>alert(1)</script> Cross-Site Scripting Robust Retrieval"
XSS_CSV = (
    "title,abstract,authors,year,url\n"
    f'"{XSS_TITLE}","We study <img src=x onerror=alert(2)> injection into paper abstracts. '
    "[click me](javascript:alert(3)) Our method ${alert(4)} escapes {{everything}} and shows "
    'markup as plain text.","Eve <b>Mallory</b>",2024,"javascript:alert(5)"\n'
)

# A year and a category the bundled library does not have.
FUTURE_CSV = (
    "title,abstract,year,categories\n"
    '"Tidal Pool Sensor Networks","We deploy low-power sensors across tidal pools '
    'and forecast algal blooms from salinity drift.",2031,q-bio.PE\n'
)


EVAL_OUT: dict[str, Path] = {}  # each served app's RAG_EVAL_OUT, by its address


@pytest.fixture(scope="module")
def url(library_store, embedder, tmp_path_factory):
    store = tmp_path_factory.mktemp("ui_browser") / "store"
    shutil.copytree(library_store, store)
    config = Config.from_env({}, store=store, eval_out=store.parent / "eval-out")
    demo, address = launch(Engine(config, embedder=embedder), config)
    EVAL_OUT[address] = config.eval_out
    yield address
    demo.close()


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "install Debian's chromium: make browser"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ui_files")
    paths = {
        "listing": folder / "daily_excerpt.txt",
        "xss": folder / "hostile.csv",
        "questions": folder / "three.jsonl",
        "future": folder / "future.csv",
    }
    paths["future"].write_text(FUTURE_CSV, encoding="utf-8")
    paths["listing"].write_text(DAILY_LISTING, encoding="utf-8")
    paths["xss"].write_text(XSS_CSV, encoding="utf-8")
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    paths["questions"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def open_page(browser, url: str, viewport: dict, dialogs: list[str]) -> Page:
    page = browser.new_page(viewport=viewport)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector("#question textarea", timeout=60_000)
    return page


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def ask(page: Page, question: str) -> None:
    page.fill("#question textarea", question)
    page.click("#ask")
    # the notes line appears with the final answer, after streaming ends
    page.wait_for_selector("#chatbot .answer-meta", timeout=ANSWER_TIMEOUT)


def paper_count(page: Page) -> int:
    text = page.inner_text("#paper-count")
    return int(re.search(r"([\d,]+) papers?", text).group(1).replace(",", ""))


def wait_for_count(page: Page, count: int) -> None:
    """Until the Library tab shows `count` papers (an ingest has finished)."""
    page.wait_for_function(
        f"document.querySelector('#paper-count').innerText.includes('{count:,} papers')",
        timeout=ANSWER_TIMEOUT,
    )


def add_papers(page: Page, path: Path, added: int) -> int:
    """Upload a file from the Library tab and wait until it added `added` papers;
    returns the new paper count."""
    page.get_by_role("tab", name="Library").click()
    count = paper_count(page) + added
    upload(page, path)
    wait_for_count(page, count)
    return count


def upload(page: Page, path: Path) -> None:
    page.get_by_role("tab", name="Library").click()
    page.set_input_files("#upload input[type=file]", str(path))
    expect(page.locator(f"#upload a[href$='/{path.name}']")).to_have_count(1, timeout=30_000)
    page.click("#add-files")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_citation_marker_opens_its_source_card(browser, url, viewport):
    dialogs: list[str] = []
    page = open_page(browser, url, viewport, dialogs)
    example = page.locator("#chatbot button", has_text=UAP_QUESTION)  # a suggested question
    expect(example).to_be_visible()
    if viewport is PHONE:  # on the phone, tap the suggestion instead of typing
        example.click()
        page.wait_for_selector("#chatbot .answer-meta", timeout=ANSWER_TIMEOUT)
    else:
        ask(page, UAP_QUESTION)
    expect(page.locator("#chatbot")).to_contain_text(UAP_QUESTION)
    marker = page.locator('#chatbot a[href^="#src-"]').first
    href = marker.get_attribute("href")
    assert re.fullmatch(r"#src-[0-9a-f]{8}-1-1", href)  # card [1], its first sentence cited
    assert marker.get_attribute("target") is None  # stays on the page

    marker.click()
    page.wait_for_function(f"location.hash === '{href}'")
    card = page.locator("#sources .src-card", has=page.locator(href))
    expect(card).to_be_in_viewport()
    expect(card.locator(".src-title")).to_contain_text(UAP_TITLE)
    highlighted = page.locator(href).locator("mark").inner_text()
    assert len(highlighted) > 20
    abstract = card.locator(".src-abstract").text_content()
    assert " ".join(highlighted.split()) in " ".join(abstract.split())
    assert "support" in card.inner_text()
    # highlighted; the card eases into it (.3 s transition), so poll
    expect(card).to_have_css("box-shadow", re.compile(r"245, 158, 11"))
    expect(page.locator("#export")).to_be_visible()
    name = "desktop" if viewport is DESKTOP else "phone"
    path = shot(page, f"{name}-chat")
    if viewport is PHONE:  # answer and card do not fit one phone screen: the whole page too
        page.screenshot(path=str(ARTIFACTS / "phone-chat-full.png"), full_page=True)
    if viewport is DESKTOP and os.environ.get("RAG_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / "screenshot-chat.png")
    card.locator("summary").click()
    expect(card.locator(".src-abstract mark").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1  # nothing wider than the screen
    assert dialogs == []
    page.close()


def test_uploading_a_listing_page_grows_the_library(browser, url, files):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    after = add_papers(page, files["listing"], 2)
    results = page.locator("#ingest-results")
    expect(results).to_contain_text("daily_excerpt.txt")
    expect(results).to_contain_text("added")
    page.fill("#library-table input", "Glacier Tokenizers")
    cell = page.locator("#library-table [role=gridcell]", has_text="Glacier Tokenizers").first
    cell.click()
    expect(page.locator("#paper-detail")).to_contain_text("calving events")
    shot(page, "desktop-library")

    phone = open_page(browser, url, PHONE, dialogs)
    phone.get_by_role("tab", name="Library").click()
    assert paper_count(phone) == after  # another session sees the new papers
    shot(phone, "phone-library")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    assert dialogs == []
    page.close()
    phone.close()


def dropdown_options(page: Page, elem_id: str) -> list[str]:
    page.click(f"#{elem_id} input")
    options = page.locator(f"#{elem_id} [data-testid=dropdown-option]")
    expect(options.first).to_be_visible()
    labels = options.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    page.keyboard.press("Escape")
    expect(options).to_have_count(0)  # closed again
    return labels


def test_filter_choices_follow_the_library(browser, url, files):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    assert "2031" not in dropdown_options(page, "since-year")
    assert "q-bio.PE" not in dropdown_options(page, "categories")
    size = page.locator("#library-size")
    expect(size).to_contain_text(re.compile(r"Answering from [\d,]+ papers in the library\."))
    count = add_papers(page, files["future"], 1)
    page.get_by_role("tab", name="Chat").click()
    # The Chat tab's line follows the library too.
    expect(size).to_contain_text(f"Answering from {count:,} papers in the library.", timeout=60_000)
    # The new choices arrive with the count's change event, a moment after the count.
    for elem_id, label in (
        ("since-year", "2031"),
        ("until-year", "2031"),
        ("categories", "q-bio.PE"),
    ):
        deadline = time.monotonic() + ANSWER_TIMEOUT / 1000
        while label not in dropdown_options(page, elem_id):
            assert time.monotonic() < deadline, f"{label} never offered in #{elem_id}"
            page.wait_for_timeout(500)
    assert dialogs == []
    page.close()


def test_hostile_paper_text_is_shown_as_text_never_run(browser, url, files):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    add_papers(page, files["xss"], 1)
    page.fill("#library-table input", "Cross-Site")
    cell = page.locator("#library-table [role=gridcell]", has_text="Cross-Site Scripting").first
    expect(cell).to_contain_text(XSS_TITLE)  # the literal tag, as text
    cell.click()
    detail = page.locator("#paper-detail")
    expect(detail).to_contain_text(XSS_TITLE)
    expect(detail).to_contain_text("<img src=x onerror=alert(2)>")
    expect(detail).to_contain_text("Eve <b>Mallory</b>")

    page.get_by_role("tab", name="Chat").click()
    ask(page, "Which paper studies cross-site scripting injection into paper abstracts?")
    page.locator('#chatbot a[href^="#src-"]').first.click()
    sources = page.locator("#sources")
    expect(sources).to_contain_text(XSS_TITLE)
    expect(sources).to_contain_text("[click me](javascript:alert(3))")
    expect(sources).to_contain_text("${alert(4)}")
    expect(page.locator("#chatbot")).to_contain_text("<img src=x onerror=alert(2)>")
    # nothing from the paper became an element or a link
    injected = page.evaluate(
        """() => ({
        scripts: [...document.scripts].filter(s => s.textContent.includes('alert(')).length,
        images: document.querySelectorAll('img[onerror]').length,
        links: [...document.querySelectorAll('a')].filter(a => a.href.startsWith('javascript:')).length,
        bold: [...document.querySelectorAll('b')].filter(b => b.textContent === 'Mallory').length,
    })"""
    )
    assert injected == {"scripts": 0, "images": 0, "links": 0, "bold": 0}
    page.wait_for_timeout(500)  # give any injected handler a chance to fire
    assert dialogs == []
    page.close()


def test_eval_tab_shows_benchmark_reports_written_since(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_text("Retrieval benchmarks (BEIR)").click()
    note = page.locator("#eval-benchmarks-note")
    expect(note).to_contain_text("No retrieval benchmark has been run yet")
    expect(note).to_contain_text("rag bench-retrieval")
    # A report as `rag bench-retrieval` writes it (see test_beir.py for the real one).
    folder = EVAL_OUT[url] / "beir-x-dev"
    folder.mkdir(parents=True)
    modes = {
        mode: {"ndcg10": 0.5 + i / 10, "recall10": 0.9, "recall100": 1.0, "mrr10": 0.6,
               "latency_p50_ms": 12.5, "failed": 0}
        for i, mode in enumerate(("dense", "bm25", "hybrid", "hybrid+rerank"))
    }  # fmt: skip
    report = {"benchmark": "x", "split": "dev", "queries": 9, "created": "2026-12-03T07:00:00",
              "embed_model": "all-MiniLM-L6-v2", "modes": modes}  # fmt: skip
    (folder / "report.json").write_text(json.dumps(report), "utf-8")
    page.click("#eval-benchmarks-reload")
    table = page.locator("#eval-benchmarks-table")
    expect(table).to_contain_text("hybrid+rerank")
    expect(table).to_contain_text("0.800")  # hybrid+rerank's nDCG@10
    expect(note).to_contain_text("1 benchmark run(s)")
    assert dialogs == []
    page.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_eval_tab_runs_and_draws_the_chart(browser, url, files, viewport):
    dialogs: list[str] = []
    page = open_page(browser, url, viewport, dialogs)
    page.get_by_role("tab", name="Evaluate").click()
    # Before any run: a line saying what to do, not empty tables headed "1 2 3".
    expect(page.locator("#eval-summary")).to_contain_text("No eval run yet")
    expect(page.locator("#eval-results")).to_be_hidden()
    page.set_input_files("#eval-questions input[type=file]", str(files["questions"]))
    uploaded = page.locator("#eval-questions a[href$='/three.jsonl']")
    expect(uploaded).to_have_count(1, timeout=30_000)
    page.click("#run-eval")
    chart = page.locator("#eval-chart img")
    chart.wait_for(timeout=ANSWER_TIMEOUT)
    expect(page.locator("#eval-summary")).to_contain_text("3 questions")
    rows = page.locator(
        "#eval-rows [role=gridcell]", has_text=re.compile(r"^\s*(✓ pass|✗ fail)\s*$")
    )
    expect(rows).to_have_count(3)
    expect(page.locator("#eval-files")).to_contain_text("results.jsonl")
    expect(page.locator("#eval-files")).to_contain_text("report.md")
    expect(page.locator("#eval-latency img")).to_be_visible()
    expect(page.locator("#eval-metrics")).to_contain_text("hit@5")
    expect(page.locator("#run-eval")).to_be_visible()
    expect(page.locator("#cancel-eval")).to_be_hidden()
    box = chart.bounding_box()
    assert box["width"] > 200 and box["width"] <= viewport["width"]
    chart.scroll_into_view_if_needed()
    shot(page, f"{'desktop' if viewport is DESKTOP else 'phone'}-eval")
    assert dialogs == []
    page.close()


def test_an_eval_run_can_be_cancelled(browser, url):
    dialogs: list[str] = []
    page = open_page(browser, url, DESKTOP, dialogs)
    page.get_by_role("tab", name="Evaluate").click()
    page.click("#run-eval")  # the canned questions: long enough to cancel
    expect(page.locator("#cancel-eval")).to_be_visible()
    expect(page.locator("#run-eval")).to_be_hidden()
    page.click("#cancel-eval")
    expect(page.locator("#eval-summary")).to_contain_text("Eval cancelled")
    expect(page.locator("#run-eval")).to_be_visible()
    expect(page.locator("#cancel-eval")).to_be_hidden()
    expect(page.locator("#eval-results")).to_be_hidden()  # no half-filled tables
    assert dialogs == []
    page.close()
