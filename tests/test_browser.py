"""The built book (``_build/html``) in a real browser: headless Chromium (Debian's package) driven
by Playwright, the pages served by a local HTTP server.

For every page of ``_toc.yml``: no console errors or uncaught exceptions, no request leaving
localhost (MathJax and everything else is served by the book itself), no cell output with a
traceback, an error/warning on stderr or a figure shown as text, every image loads with a
non-zero size and every figure has alt text, every formula is typeset by MathJax without TeX
errors, every exercise solution is collapsed until its title is clicked, chapters have Binder and
``.ipynb`` download buttons. Over the whole book: every internal link (and its ``#anchor``)
resolves, and the search page finds chapter 1 by a word of its title. A full-page screenshot of
each page goes to ``_build/screenshots/``.

Run with ``make check-book`` after ``make book``. Without a built book, Playwright or Chromium the
tests are skipped — unless ``BOOK_CHECK=1`` (set by ``make check-book``), which turns that into a
failure. The browser is found as ``$CHROMIUM`` or ``chromium``/``chromium-browser`` on PATH
(Debian: ``apt-get install chromium``); Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit

import bookpdf  # book/_ext, on the path by tests/conftest.py
import booktools as book
import pytest

# End-to-end and dependent on a built book: not part of `make test` (which runs before the book
# is built in CI); `make check-book` runs this file explicitly.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = ROOT / "_build" / "html"
SCREENSHOT_DIR = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("BOOK_CHECK") == "1"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
PAGE_TIMEOUT_MS = 60_000
CHROMIUM_ARGS = [
    # as root in a container: no sandbox; no GPU; none of Chromium's own background traffic
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--disable-default-apps", "--disable-extensions",
]


def unavailable(reason: str) -> None:
    """Skip — or fail when the check is required (``BOOK_CHECK=1``)."""
    if REQUIRED:
        pytest.fail(f"{reason} (BOOK_CHECK=1: the browser check must run)", pytrace=False)
    pytest.skip(reason)


PAGES = book.toc_pages(ROOT / "_toc.yml")
CHAPTERS = [p for p in PAGES if p.startswith("notebooks/")]


def find_chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


# ---------------------------------------------------------------------------------------------
# the server and the browser
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """Base URL of ``_build/html`` served on a free localhost port."""
    if not (HTML_DIR / "index.html").is_file():
        unavailable(f"no built book at {HTML_DIR} (run `make book` first)")
    with bookpdf.serve(HTML_DIR) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (it is pinned in requirements-dev.lock)")
    executable = find_chromium()
    if executable is None:
        unavailable("no Chromium found (set $CHROMIUM or install Debian's `chromium` package)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ---------------------------------------------------------------------------------------------
# one visit per page, reported once and checked by several tests
# ---------------------------------------------------------------------------------------------
@dataclass
class PageReport:
    """What one visit of a page found."""

    page: str
    url: str
    title: str = ""
    h1: str = ""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    error_outputs: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    math: dict[str, Any] = field(default_factory=dict)
    solutions_hidden: list[bool] = field(default_factory=list)
    solutions_shown_after_click: list[bool] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    binder_links: list[str] = field(default_factory=list)
    ipynb_links: list[str] = field(default_factory=list)
    layout: dict[str, list[str]] = field(default_factory=dict)
    screenshot: Path | None = None


JS_IMAGES = """async () => Promise.all([...document.images].map(async (img) => {
    img.loading = "eager";
    try { await img.decode(); } catch (e) {}
    return {src: img.getAttribute("src"), alt: img.getAttribute("alt") || "",
            width: img.naturalWidth, height: img.naturalHeight, complete: img.complete,
            output: !!img.closest(".cell_output")};
}))"""

JS_MATH = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
    const math = [...document.querySelectorAll("span.math, div.math")];
    return {
        version: window.MathJax ? (MathJax.version || "") : null,
        script: [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s)),
        n_math: math.length,
        untypeset: math.filter(m => !m.querySelector("mjx-container"))
                       .map(m => m.textContent.slice(0, 80)),
        n_containers: document.querySelectorAll("mjx-container").length,
        errors: [...document.querySelectorAll("mjx-merror")]
                    .map(e => e.getAttribute("data-mjx-error") || e.textContent),
    };
}"""

JS_ERROR_OUTPUTS = """() => {
    const found = [];
    for (const el of document.querySelectorAll(
            ".cell_output .output.traceback, .cell_output .output.error")) {
        found.push("error output: " + el.textContent.trim().slice(0, 300));
    }
    for (const el of document.querySelectorAll(".cell_output .output.stderr")) {
        const text = el.textContent;
        if (/Traceback|Error\\b|Warning\\b|Exception\\b/.test(text)) {
            found.push("stderr: " + text.trim().slice(0, 300));
        }
    }
    for (const el of document.querySelectorAll(".cell_output .output.text_plain")) {
        if (/^\\s*<Figure size \\d+x\\d+ with \\d+ Axes>\\s*$/.test(el.textContent)) {
            found.push("a figure shown as text, not as an image: " + el.textContent.trim());
        }
    }
    for (const el of document.querySelectorAll(".cell_output")) {
        if (el.textContent.includes("Traceback (most recent call last)")) {
            found.push("traceback in output: " + el.textContent.trim().slice(0, 300));
        }
    }
    return found;
}"""

JS_LAYOUT = """() => {
    const short = (el) => el.textContent.trim().replace(/\\s+/g, " ").slice(0, 120);
    const visible = (el) => el.getClientRects().length > 0
        && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
    const wider = (el) => visible(el) && el.scrollWidth > el.clientWidth + 2;
    const out = {wide_code: [], wide_output: [], wide_table: [], shrunk_image: [],
                 uncaptioned_figure: [], noisy_output: [], wide_math: []};
    for (const el of document.querySelectorAll(".cell_input pre")) {
        if (wider(el)) out.wide_code.push(short(el));
    }
    for (const el of document.querySelectorAll(".cell_output pre")) {
        if (wider(el)) out.wide_output.push(short(el));
    }
    const column = document.querySelector("main article, article.bd-article, main");
    const columnWidth = column ? column.clientWidth : window.innerWidth;
    for (const el of document.querySelectorAll(".cell_output table")) {
        if (!visible(el)) continue;
        const box = el.closest(".output") || el.parentElement;
        if (el.getBoundingClientRect().width > Math.min(box.clientWidth, columnWidth) + 2
                || box.scrollWidth > box.clientWidth + 2) {
            out.wide_table.push(short(el));
        }
    }
    for (const img of document.querySelectorAll(".cell_output img")) {
        if (!visible(img) || !img.naturalWidth) continue;
        const shown = img.getBoundingClientRect().width;
        if (shown < 0.7 * img.naturalWidth) {
            out.shrunk_image.push(`${img.getAttribute("src")}: ${Math.round(shown)} of `
                                  + `${img.naturalWidth} px`);
        }
        const figure = img.closest("figure");
        if (!figure || !figure.querySelector("figcaption")) {
            out.uncaptioned_figure.push(img.getAttribute("src"));
        }
    }
    for (const el of document.querySelectorAll("div.math mjx-container")) {
        if (!visible(el)) continue;
        const math = el.querySelector("mjx-math") || el;
        if (el.scrollWidth > el.clientWidth + 2
                || math.getBoundingClientRect().width > columnWidth + 2) {
            out.wide_math.push(short(el.parentElement));
        }
    }
    const noise = /at 0x[0-9a-f]{6,}>|^INFO:|np\\.float64\\(|dtype: (int|float)\\d+\\s*$/m;
    for (const el of document.querySelectorAll(".cell_output .output")) {
        if (visible(el) && noise.test(el.textContent)) out.noisy_output.push(short(el));
    }
    return out;
}"""

JS_SOLUTION_CONTENT_VISIBLE = """() => [...document.querySelectorAll("div.solution")].map(sol =>
    [...sol.children].filter(c => !c.classList.contains("admonition-title"))
        .some(c => c.checkVisibility({opacityProperty: true, visibilityProperty: true})
                   && c.getBoundingClientRect().height > 0))"""


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOCAL_HOSTS


def visit(browser: Any, base: str, page: str) -> PageReport:
    """Open ``page`` in a fresh browser context and record everything the tests check."""
    report = PageReport(page=page, url=f"{base}{page}.html")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(PAGE_TIMEOUT_MS)

    def route(r: Any) -> None:
        if _is_local(r.request.url):
            r.continue_()
        else:
            report.external_requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    tab.on("console", lambda m: report.console_errors.append(
        f"{m.text} ({m.location.get('url', '')})") if m.type == "error" else None)
    tab.on("pageerror", lambda exc: report.page_errors.append(str(exc)))
    tab.on("response", lambda r: report.failed_responses.append(f"{r.status} {r.url}")
           if r.status >= 400 else None)
    try:
        response = tab.goto(report.url, wait_until="load")
        assert response is not None and response.ok, f"{report.url}: HTTP {response}"
        report.math = tab.evaluate(JS_MATH)
        report.images = tab.evaluate(JS_IMAGES)
        tab.wait_for_load_state("networkidle")
        report.title = tab.title()
        h1 = tab.locator("main h1, article h1").first
        report.h1 = h1.inner_text() if h1.count() else ""
        report.error_outputs = tab.evaluate(JS_ERROR_OUTPUTS)
        report.layout = tab.evaluate(JS_LAYOUT)
        report.links = tab.evaluate(
            "() => [...document.querySelectorAll('a[href]')].map(a => a.href)")
        report.binder_links = [u for u in report.links if "mybinder.org/v2/" in u]
        report.ipynb_links = [u for u in report.links if urldefrag(u).url.endswith(".ipynb")]
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        report.screenshot = SCREENSHOT_DIR / (page.replace("/", "__") + ".png")
        tab.screenshot(path=str(report.screenshot), full_page=True)
        # solutions: collapsed first, shown after a click on their title
        report.solutions_hidden = [not v for v in tab.evaluate(JS_SOLUTION_CONTENT_VISIBLE)]
        titles = tab.locator("div.solution > .admonition-title")
        for i in range(titles.count()):
            titles.nth(i).click()
        if titles.count():
            tab.wait_for_timeout(300)  # the toggle animation
        report.solutions_shown_after_click = tab.evaluate(JS_SOLUTION_CONTENT_VISIBLE)
    finally:
        context.close()
    return report


@pytest.fixture(scope="module")
def reports(site: str, browser: Any) -> dict[str, PageReport]:
    """Lazily filled cache: each page is visited once for all the tests."""
    return {}


@pytest.fixture
def report(request: pytest.FixtureRequest, reports: dict[str, PageReport], site: str,
           browser: Any) -> PageReport:
    page = request.param
    if page not in reports:
        reports[page] = visit(browser, site, page)
    return reports[page]


def all_reports(reports: dict[str, PageReport], site: str, browser: Any) -> list[PageReport]:
    for page in PAGES:
        if page not in reports:
            reports[page] = visit(browser, site, page)
    return [reports[p] for p in PAGES]


# ---------------------------------------------------------------------------------------------
# per page
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_page_loads_without_console_errors(report: PageReport) -> None:
    assert report.screenshot is not None and report.screenshot.stat().st_size > 0
    assert not report.page_errors, f"uncaught JavaScript exceptions: {report.page_errors}"
    assert not report.failed_responses, f"failed requests: {report.failed_responses}"
    assert not report.console_errors, f"console errors: {report.console_errors}"


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_page_requests_nothing_outside_localhost(report: PageReport) -> None:
    assert not report.external_requests, (
        f"the page requested {report.external_requests}: everything must be served by the book "
        "itself (offline reading)")


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_no_cell_output_shows_an_error(report: PageReport) -> None:
    assert not report.error_outputs, "\n".join(report.error_outputs)


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_every_image_loads(report: PageReport) -> None:
    broken = [i["src"] for i in report.images
              if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"images that did not load (or have zero size): {broken}"


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_output_figures_have_alt_text(report: PageReport) -> None:
    """Figures made by cells carry alt text (cell metadata ``mystnb: image: alt: ...``), not
    MyST-NB's default, the image's file name."""
    missing = [i["src"] for i in report.images if i["output"] and (
        not i["alt"].strip() or Path(unquote(i["alt"])).name == Path(unquote(i["src"])).name)]
    assert not missing, f"{len(missing)} figure(s) without alt text on {report.page}: {missing}"


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_code_and_outputs_fit_the_column(report: PageReport) -> None:
    """At a 1280-px window no code cell or printed output scrolls sideways (code is formatted to
    79 characters, book/_static/book.css sizes it to fit; long printed lines wrap)."""
    wide = {k: report.layout[k] for k in ("wide_code", "wide_output") if report.layout[k]}
    assert not wide, f"{report.page}: content wider than the text column: {wide}"


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_tables_fit_the_column(report: PageReport) -> None:
    """At a 1280-px window no table of results scrolls sideways."""
    assert not report.layout["wide_table"], (
        f"{report.page}: tables wider than the text column: {report.layout['wide_table']}")


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_equations_fit_the_column(report: PageReport) -> None:
    """At a 1280-px window no displayed equation is wider than the text column."""
    assert not report.layout["wide_math"], (
        f"{report.page}: equations wider than the text column: {report.layout['wide_math']}")


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_figures_are_readable(report: PageReport) -> None:
    """Output figures are shown at ≥ 70 % of their natural width (a shrunk figure shrinks its
    text), and every figure of a chapter has a caption (and with it a number)."""
    assert not report.layout["shrunk_image"], (
        f"{report.page}: figures shrunk below 70 %: {report.layout['shrunk_image']}")
    if report.page in CHAPTERS:
        assert not report.layout["uncaptioned_figure"], (
            f"{report.page}: figures without a caption: {report.layout['uncaptioned_figure']}")


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_outputs_show_no_reprs_or_logs(report: PageReport) -> None:
    """No object reprs (``<… at 0x…>``, ``np.float64(…)``), log lines or dtype footers."""
    assert not report.layout["noisy_output"], (
        f"{report.page}: outputs a reader should not see: {report.layout['noisy_output']}")


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_math_is_typeset_by_the_local_mathjax(report: PageReport) -> None:
    math = report.math
    if math["n_math"] == 0:
        return  # nothing to typeset on this page (chapter 1 is checked to have math below)
    assert math["version"] and math["version"].startswith("3."), f"MathJax not running: {math}"
    assert math["script"] and all(_is_local(s) and "/_static/mathjax/" in s
                                  for s in math["script"]), math["script"]
    assert not math["untypeset"], f"formulas left as TeX: {math['untypeset'][:5]}"
    assert not math["errors"], f"TeX errors: {math['errors'][:5]}"


@pytest.mark.parametrize("report", PAGES, indirect=True)
def test_solutions_are_collapsed_until_clicked(report: PageReport) -> None:
    hidden, shown = report.solutions_hidden, report.solutions_shown_after_click
    assert len(hidden) == len(shown)
    assert all(hidden), f"solutions visible before any click: {hidden}"
    assert all(shown), f"solutions still hidden after clicking their title: {shown}"


@pytest.mark.parametrize("report", CHAPTERS, indirect=True)
def test_chapter_has_binder_and_ipynb_download_buttons(report: PageReport) -> None:
    assert any(f"urlpath=lab/tree/{report.page}.md" in u for u in report.binder_links), (
        f"no Binder launch link opening {report.page}.md: {report.binder_links}")
    assert any(urldefrag(u).url.endswith(f"{report.page}.ipynb") for u in report.ipynb_links), (
        f"no .ipynb download link: {report.ipynb_links}")
    assert all(_is_local(u) for u in report.ipynb_links)


@pytest.mark.parametrize("report", CHAPTERS[:1], indirect=True)
def test_chapter_one_has_typeset_math_exercises_and_solutions(report: PageReport) -> None:
    """Guards the checks above against passing vacuously (e.g. selectors that match nothing)."""
    assert report.math["n_math"] > 0 and report.math["n_containers"] >= report.math["n_math"]
    assert report.solutions_hidden, "chapter 1 has exercises with solutions"
    assert any(i["output"] for i in report.images), "chapter 1 has figures"


# ---------------------------------------------------------------------------------------------
# whole book
# ---------------------------------------------------------------------------------------------
class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in {"id", "name"} and value:
                self.ids.add(value)


def test_internal_links_resolve(reports: dict[str, PageReport], site: str, browser: Any) -> None:
    targets: dict[str, set[str]] = {}
    sources: dict[str, str] = {}
    for rep in all_reports(reports, site, browser):
        for link in rep.links:
            if not link.startswith(site):
                continue
            url, fragment = urldefrag(link)
            targets.setdefault(url, set())
            sources.setdefault(url, rep.page)
            if fragment:
                targets[url].add(unquote(fragment))
    assert targets, "no internal links found"
    problems = []
    for url, fragments in sorted(targets.items()):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - localhost
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        if status != 200:
            problems.append(f"HTTP {status}: {url} (linked from {sources[url]})")
            continue
        if fragments and url.endswith(".html"):
            parser = _Anchors()
            parser.feed(body.decode("utf-8", errors="replace"))
            missing = sorted(fragments - parser.ids)
            if missing:
                problems.append(f"missing anchors in {url}: {missing}")
    assert not problems, "\n".join(problems)


def test_search_finds_chapter_one(reports: dict[str, PageReport], site: str,
                                  browser: Any) -> None:
    chapter = CHAPTERS[0]
    if chapter not in reports:
        reports[chapter] = visit(browser, site, chapter)
    words = re.findall(r"[A-Za-z]{5,}", reports[chapter].h1)
    assert words, f"no searchable word in chapter 1's title {reports[chapter].h1!r}"
    term = max(words, key=len)
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(f"{site}search.html?q={term}", wait_until="load")
        tab.wait_for_function(
            "() => /Search finished/.test(document.getElementById('search-results')"
            "?.textContent || '')", timeout=PAGE_TIMEOUT_MS)
        hits = tab.evaluate(
            "() => [...document.querySelectorAll('#search-results a')].map(a => a.href)")
    finally:
        context.close()
    assert any(urldefrag(h).url == f"{site}{chapter}.html" for h in hits), (
        f"searching {term!r} did not find {chapter}: {hits}")
