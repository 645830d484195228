"""The self-study book as a reader sees it: built in fast mode, served on loopback, in Chromium.

``autograder.book`` builds every reader's notebook into a temporary folder, which a threaded
``http.server`` serves on 127.0.0.1. Chromium opens the index, follows each chapter link and
checks that the page loaded its plots (``<img>`` with a non-zero ``naturalWidth``), that the
navigation leads back to the index, and that a chapter run on mock Fashion-MNIST carries the
mock banner at its top. Screenshots go to ``artifacts/screenshots/book_*.png``.
"""

from __future__ import annotations

import nbformat
import pytest

from autograder import book
from autograder.build import assignments, reader_path
from tests.browser_util import chromium_page, screenshot, serve_directory

CHAPTERS = [a for a in assignments() if reader_path(a).is_file()]


@pytest.fixture(scope="module")
def built_book(tmp_path_factory: pytest.TempPathFactory):
    """(folder, chapters) of a fast-mode book; Fashion-MNIST as `auto` resolves it here."""
    from tfcourse import data

    data.fetch_all()
    out = tmp_path_factory.mktemp("book")
    chapters = book.build_book(out, fast=True)
    return out, {c.assignment: c for c in chapters}


def test_reader_notebooks_exist() -> None:
    assert CHAPTERS, "no reader's notebooks: run `python -m autograder.build`"


def test_describe_takes_title_and_first_sentence() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_markdown_cell(
            "# Fashion-MNIST without `model.fit`\n\nIn this notebook you train a "
            "[classifier](https://example.org) by hand. " + "More words. " * 30
        ),
    ])
    title, description = book.describe(nb, "fallback")
    assert title == "Fashion-MNIST without model.fit"
    assert description == "In this notebook you train a classifier by hand."


def test_mock_banner_detected_from_loader_output() -> None:
    from tfcourse.fashion_mnist import MOCK_BANNER

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("load()")])
    assert not book.shows_mock_data(nb)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=MOCK_BANNER)]
    assert book.shows_mock_data(nb)


@pytest.mark.browser
@pytest.mark.slow
def test_book_pages_show_plots_and_links(built_book) -> None:
    out, chapters = built_book
    assert sorted(chapters) == sorted(CHAPTERS)
    with serve_directory(out) as base, chromium_page() as page:
        page.goto(base + "index.html")
        assert page.locator("h1").inner_text() == book.BOOK_TITLE
        links = page.locator("ol.chapters > li > a")
        assert links.count() == len(CHAPTERS)
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert all(h and "://" not in h and not h.startswith("/") for h in hrefs), hrefs
        for i in range(links.count()):
            assert page.locator("ol.chapters p.desc").nth(i).inner_text().strip(), (
                f"chapter {hrefs[i]} has no description on the index"
            )
        screenshot(page, "book_index", full_page=True)

        for href in hrefs:
            name = href.removesuffix(".html")
            chapter = chapters[name]
            page.goto(base + "index.html")
            page.locator(f'ol.chapters a[href="{href}"]').click()
            page.wait_for_url(f"**/{href}")
            page.wait_for_load_state("load")
            assert chapter.title in page.title()
            sizes = page.eval_on_selector_all(
                ".jp-OutputArea-output img", "imgs => imgs.map(i => i.naturalWidth)"
            )
            assert sizes, f"{href}: no plot on the page"
            assert all(width > 0 for width in sizes), f"{href}: broken images {sizes}"
            banner = page.locator(".book-mock-banner")
            if chapter.is_mock:
                assert banner.count() == 1 and banner.is_visible(), f"{href}: no mock banner"
                assert "Mock data" in banner.inner_text()
                top = banner.bounding_box()
                assert top is not None and top["y"] < 200, f"{href}: mock banner not at the top"
            else:
                assert banner.count() == 0, f"{href}: mock banner on a page built on real data"
            screenshot(page, f"book_{name}")
            page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
            screenshot(page, f"book_{name}_plot")
            page.locator(".book-nav a.book-home").click()
            page.wait_for_url("**/index.html")
        assert any(c.is_mock for c in chapters.values()) == any(
            "fashion" in name and c.is_mock for name, c in chapters.items()
        ), "only the Fashion-MNIST chapter may run on mock data"
