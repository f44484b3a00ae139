"""Print the built book (``_build/html``) to PDF with the system Chromium, through Playwright.

``make pdf`` (after ``make book``) writes one PDF per page of ``_toc.yml``, in the book's order,
into ``_build/pdf/``: ``00_book_intro.pdf``, ``01_book_how_to_run.pdf``, …,
``05_notebooks_01_statistics.pdf``, … — the prefix keeps the toc order when the files are listed
or printed together. One file per page because the environment holds no PDF library to merge
them (pypdf is not in the dev lock), and printing the pages one by one keeps each page's own
MathJax typesetting, figures and print style (sphinx-book-theme's print CSS: no side bars,
no buttons). A4, backgrounds printed, the page title and page numbers in the footer.

Before each page is printed: MathJax has typeset every formula (``MathJax.startup.promise``),
fonts and images have loaded, and the book's collapsed dropdowns are opened — except the
exercise solutions (sphinx-exercise's ``solution`` admonitions), which are left out of the print
(``--solutions`` prints them expanded), and the ``hide-input`` code cells, whose outputs are
printed without their source. The dropdowns' "Click to hide" buttons are not printed.

The browser is ``$CHROMIUM`` or ``chromium``/``chromium-browser`` on PATH (Debian's ``chromium``
package), as for ``make check-book``; Playwright's own browser download is not used. The pages
are served from a local HTTP server on 127.0.0.1.

Usage (from the repository root)::

    python book/_ext/bookpdf.py [--html _build/html] [--output _build/pdf]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = ROOT / "_build" / "html"
PDF_DIR = ROOT / "_build" / "pdf"
PAGE_TIMEOUT_MS = 120_000
CHROMIUM_ARGS = [
    # as root in a container: no sandbox; no GPU; none of Chromium's own background traffic
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--disable-default-apps", "--disable-extensions",
]

# Runs in the page before printing: wait for MathJax and the fonts, open the dropdowns that hold
# content (not the solutions, not the hidden code-cell sources), load every image.
PREPARE_PAGE_JS = """
async (showSolutions) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  // togglebutton dropdown admonitions ({admonition} with :class: dropdown); the solutions only
  // with showSolutions, else they leave the print (a collapsed dropdown's content is invisible
  // but still laid out: it would leave blank pages, and "Click to show" cannot be clicked)
  for (const item of document.querySelectorAll(".admonition.toggle-hidden")) {
    if (item.classList.contains("solution") && !showSolutions) {
      item.style.display = "none";
      continue;
    }
    const title = item.querySelector(":scope > .admonition-title");
    if (title) title.click();
  }
  // the toggle buttons themselves ("Click to hide") are not printed
  for (const button of document.querySelectorAll(".toggle-button")) {
    button.style.display = "none";
  }
  // sphinx-design dropdowns and togglebutton's <details>; not the hide-input code cells
  for (const details of document.querySelectorAll("details")) {
    if (details.classList.contains("above-input")) continue;
    details.open = true;
  }
  for (const img of document.images) {
    img.loading = "eager";
  }
  await Promise.all(Array.from(document.images).map(
    (img) => img.complete ? null : new Promise((ok) => { img.onload = img.onerror = ok; })));
  await document.fonts.ready;
  const untypeset = Array.from(document.querySelectorAll(".math"))
    .filter((m) => !m.querySelector("mjx-container")).length;
  return [document.title, untypeset];
}
"""

FOOTER = (
    '<div style="font-size:8px; width:100%; padding:0 12mm; display:flex; '
    'justify-content:space-between; color:#555;">'
    '<span class="title"></span><span><span class="pageNumber"></span> / '
    '<span class="totalPages"></span></span></div>'
)


def find_chromium() -> str | None:
    """The system Chromium: ``$CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def toc_pages(root: Path = ROOT) -> list[str]:
    """The book's pages in ``_toc.yml`` order (``"book/intro"``, ``"notebooks/01_statistics"``…)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import booktools

    return booktools.toc_pages(root / "_toc.yml")


def pdf_name(index: int, page: str) -> str:
    """File name of the ``index``-th toc page (from 0): ``05_notebooks_01_statistics.pdf``."""
    return f"{index:02d}_{page.replace('/', '_')}.pdf"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free localhost port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def print_book(html_dir: Path = HTML_DIR, out_dir: Path = PDF_DIR, *,
               pages: Sequence[str] | None = None, show_solutions: bool = False,
               log: bool = True) -> list[Path]:
    """Print every page of the built book in ``html_dir`` (toc order) to a PDF in ``out_dir``.

    The exercise solutions (collapsed dropdowns on the web pages) are left out of the print, or
    printed expanded with ``show_solutions``.

    PDFs left in ``out_dir`` from an earlier run are removed first. Returns the files written.
    Raises ``FileNotFoundError`` without a built book, ``RuntimeError`` without Chromium or when
    a page has formulas that MathJax did not typeset.
    """
    from playwright.sync_api import sync_playwright

    html_dir, out_dir = Path(html_dir), Path(out_dir)
    pages = list(pages) if pages is not None else toc_pages()
    missing = [p for p in pages if not (html_dir / f"{p}.html").is_file()]
    if missing:
        raise FileNotFoundError(f"not in {html_dir} (run `make book` first): {missing}")
    executable = find_chromium()
    if executable is None:
        raise RuntimeError("no Chromium found (set $CHROMIUM or install Debian's `chromium`)")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.pdf"):
        old.unlink()
    written = []
    with serve(html_dir) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 1600})
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            for index, name in enumerate(pages):
                start = time.perf_counter()
                page.goto(f"{base}{name}.html", wait_until="load")
                title, untypeset = page.evaluate(PREPARE_PAGE_JS, show_solutions)
                if untypeset:
                    raise RuntimeError(
                        f"{name}: {untypeset} formulas not typeset by MathJax (is "
                        f"{html_dir / '_static' / 'mathjax'} there? `make mathjax`)")
                path = out_dir / pdf_name(index, name)
                page.pdf(path=str(path), format="A4", print_background=True,
                         display_header_footer=True, header_template="<span></span>",
                         footer_template=FOOTER,
                         margin={"top": "15mm", "bottom": "18mm", "left": "12mm",
                                 "right": "12mm"})
                written.append(path)
                if log:
                    info = pdf_info(path)
                    print(f"{path.name}: {info.pages} pages, {info.images} images, "
                          f"{path.stat().st_size / 1e6:.1f} MB, "
                          f"{time.perf_counter() - start:.1f} s  ({title})", flush=True)
        finally:
            browser.close()
    return written


# ---------------------------------------------------------------------------------------------
# what a PDF holds (without a PDF library: Chromium writes its object dictionaries uncompressed)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PdfInfo:
    """Pages, image objects and the document title (``<title>`` of the HTML page) of a PDF."""

    pages: int
    images: int
    title: str | None


_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_IMAGE = re.compile(rb"/Subtype\s*/Image(?![a-zA-Z])")
_TITLE = re.compile(rb"/Title\s*(\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>)", re.DOTALL)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _pdf_string(token: bytes) -> str:
    """Decode a PDF string token, ``(literal)`` or ``<hex>``; UTF-16BE when it has the BOM."""
    if token.startswith(b"<"):
        raw = bytes.fromhex(token[1:-1].decode("ascii"))
    else:
        raw = re.sub(
            rb"\\([0-7]{1,3}|.)",
            lambda m: (bytes([int(m[1], 8) & 0xFF]) if m[1][:1].isdigit()
                       else _ESCAPES.get(m[1], m[1])),
            token[1:-1], flags=re.DOTALL)
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be")
    return raw.decode("latin-1")


def pdf_info(path: str | Path) -> PdfInfo:
    """Count the pages and image objects of a PDF written by Chromium and read its title."""
    data = Path(path).read_bytes()
    title = _TITLE.search(data)
    return PdfInfo(pages=len(_PAGE.findall(data)), images=len(_IMAGE.findall(data)),
                   title=_pdf_string(title[1]) if title else None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=HTML_DIR, help="the built book")
    parser.add_argument("--output", type=Path, default=PDF_DIR, help="folder of the PDFs")
    parser.add_argument("--solutions", action="store_true",
                        help="print the exercise solutions expanded (default: left out)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        written = print_book(args.html, args.output, show_solutions=args.solutions)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in written) / 1e6
    print(f"{len(written)} PDFs, {size:.1f} MB, in {args.output} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
