"""``make pdf`` (book/_ext/bookpdf.py): the built book printed to one PDF per page by Chromium.

Fast: file names in toc order and the reading of a PDF's pages, images and title. Slow: the real
``_build/html`` printed (skipped without a built book, Playwright or Chromium).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import bookpdf  # book/_ext, on the path by tests/conftest.py
import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML_DIR = ROOT / "_build" / "html"

# A minimal PDF as Chromium writes them: uncompressed object dictionaries, a UTF-16BE title.
TINY_PDF = b"""%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /Resources << /XObject << /Im1 5 0 R >> >> >> endobj
4 0 obj << /Type /Page /Parent 2 0 R >> endobj
5 0 obj << /Type /XObject /Subtype /Image /Width 1 /Height 1 /Length 0 >> stream
endstream endobj
6 0 obj << /Title <FEFF0031002E002003C7> /Creator (Chromium\\051) >> endobj
trailer << /Root 1 0 R /Info 6 0 R >>
%%EOF
"""


def test_pdf_names_keep_the_toc_order() -> None:
    pages = bookpdf.toc_pages()
    names = [bookpdf.pdf_name(i, page) for i, page in enumerate(pages)]
    assert names == sorted(names)
    assert names[0] == "00_book_intro.pdf"
    assert "notebooks_01_statistics.pdf" in names[pages.index("notebooks/01_statistics")]


def test_pdf_info_reads_pages_images_and_title(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pdf"
    path.write_bytes(TINY_PDF)
    info = bookpdf.pdf_info(path)
    assert (info.pages, info.images, info.title) == (2, 1, "1. χ")
    assert bookpdf._pdf_string(rb"(a\(b\) \351)") == "a(b) é"


@pytest.mark.slow
def test_make_pdf_prints_every_page_of_the_built_book(tmp_path: Path) -> None:
    if not (HTML_DIR / "index.html").is_file():
        pytest.skip(f"no built book at {HTML_DIR} (run `make book` first)")
    pytest.importorskip("playwright", reason="playwright is pinned in requirements-dev.lock")
    if bookpdf.find_chromium() is None:
        pytest.skip("no Chromium found (set $CHROMIUM or install Debian's `chromium` package)")
    pages = bookpdf.toc_pages()
    written = bookpdf.print_book(HTML_DIR, tmp_path, log=False)
    assert [p.name for p in written] == [bookpdf.pdf_name(i, p) for i, p in enumerate(pages)]
    for page, path in zip(pages, written, strict=True):
        info = bookpdf.pdf_info(path)
        source = (HTML_DIR / f"{page}.html").read_text(encoding="utf-8")
        title = html.unescape(re.search(r"<title>(.*?)</title>", source, re.DOTALL)[1]).strip()
        assert info.title == title, page
        assert info.pages >= 1, page
        if page.startswith("notebooks/"):  # the chapters: long, with their figures
            assert info.pages >= 5, (page, info)
            assert info.images >= 1, (page, info)
            assert path.stat().st_size > 100_000, page
