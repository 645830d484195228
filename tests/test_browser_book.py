"""The self-study book as a reader sees it: built in fast mode, served on loopback, in Chromium.

``autograder.student.book`` builds every reader's notebook into a temporary folder, which a
threaded
``http.server`` serves on 127.0.0.1. Chromium, with every request that leaves loopback
refused, opens the index, checks the chapters are listed in course order, follows each chapter
link and checks that the page loaded its plots (``<img>`` with a non-zero ``naturalWidth``),
that MathJax (the book's local copy) typeset its formulas and left no raw ``$...$``, that no
output is a stderr box or an object repr (``<Axes: ...>``), that a progress line printed with
``end="\r"`` shows once, that tqdm bars are drawn, that the navigation leads back to the
index, and that a chapter run on mock Fashion-MNIST carries the mock banner at its top.
Screenshots go to ``artifacts/screenshots/book_*.png``.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder.build import COURSE_ORDER, assignments, reader_path
from autograder.student import book
from tests.browser_util import chromium_page, screenshot, serve_directory

CHAPTERS = [a for a in assignments() if reader_path(a).is_file()]
MATHJAX_DONE_MS = 30_000
#: Text of an object's default repr, e.g. ``<Axes: title={...}>`` or ``<Figure size ...>``.
OBJECT_REPR = re.compile(r"<(Axes|Figure|matplotlib\.|keras\.|tensorflow\.)[^>]*>|object at 0x")
#: A per-batch progress line of the breast cancer notebook (printed with ``end="\\r"``).
PROGRESS = re.compile(r"Training loss for step \d+")
#: Text of the rendered markdown (code spans removed) that still looks like TeX source.
RAW_TEX_JS = """() => [...document.querySelectorAll('.jp-RenderedMarkdown')].map(el => {
    const copy = el.cloneNode(true);
    const skip = 'code, pre, script, .MathJax, .MathJax_Display';
    copy.querySelectorAll(skip).forEach(c => c.remove());
    return copy.innerText;
}).filter(t => /\\$[^$\\n]+\\$/.test(t))"""


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


def test_chapters_follow_the_course_order() -> None:
    assert CHAPTERS == [a for a in COURSE_ORDER if reader_path(a).is_file()]
    assert CHAPTERS[:2] == ["training_basics", "fashion_mnist"]


def test_carriage_returns_leave_the_last_state_of_a_progress_line() -> None:
    cell = nbformat.v4.new_code_cell("train()")
    pieces = ["step 0: 0.9\r", "step 1: 0.8\r", "\rEpoch 0: loss 0.8\n", "step 0: 0.7\r",
              "\rEpoch 1: loss 0.7\n", "done\rdone, all\n"]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in pieces]
    cell.outputs.append(nbformat.v4.new_output("stream", name="stderr", text="warning\n"))
    book.tidy_streams(nbformat.v4.new_notebook(cells=[cell]))
    assert [(o.name, o.text) for o in cell.outputs] == [
        ("stdout", "Epoch 0: loss 0.8\nEpoch 1: loss 0.7\ndone, all\n"), ("stderr", "warning\n")
    ]
    assert book.apply_carriage_returns("waiting\r") == "waiting"


def test_tqdm_widget_becomes_a_static_bar_in_its_last_state() -> None:
    def model(name: str, **state) -> dict:
        return {"model_name": name, "state": state}

    state = {
        "box": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": model("HTMLModel", value="training: 100%"),
        "p": model("FloatProgressModel", value=8.0, max=8.0),
        "r": model("HTMLModel", value="8/8 [00:01&lt;00:00]"),
    }
    cell = nbformat.v4.new_code_cell("fit()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        book.WIDGET_VIEW: {"model_id": "box", "version_major": 2, "version_minor": 0},
        "text/plain": "training:   0%|          | 0/8",
    })]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["widgets"] = {book.WIDGET_STATE: {"state": state}}
    static = book.static_widgets(nb)
    assert "widgets" not in static.metadata and "widgets" in nb.metadata  # a copy
    data = static.cells[0].outputs[0].data
    assert book.WIDGET_VIEW not in data
    assert '<progress value="8.0" max="8.0">' in data["text/html"]
    assert "training: 100%" in data["text/html"] and "8/8" in data["text/html"]


def test_mock_banner_detected_from_loader_output() -> None:
    from tfcourse.fashion_mnist import MOCK_BANNER

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("load()")])
    assert not book.shows_mock_data(nb)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=MOCK_BANNER)]
    assert book.shows_mock_data(nb)


def _block_the_internet(page) -> list[str]:
    """Refuse every request that leaves 127.0.0.1; return the list of refused URLs."""
    refused: list[str] = []

    def route(request_route, request) -> None:
        if re.match(r"^(http://127\.0\.0\.1[:/]|data:|blob:|about:)", request.url):
            request_route.continue_()
        else:
            refused.append(request.url)
            request_route.abort()

    page.route("**/*", route)
    return refused


def _wait_for_mathjax(page) -> None:
    page.wait_for_function(
        "() => window.MathJax && MathJax.Hub && MathJax.isReady"
        " && MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0",
        timeout=MATHJAX_DONE_MS,
    )


@pytest.mark.browser
@pytest.mark.slow
def test_book_pages_show_plots_and_links(built_book) -> None:
    out, chapters = built_book
    assert sorted(chapters) == sorted(CHAPTERS)
    assert (out / book.MATHJAX_DIR / "MathJax.js").is_file()
    with serve_directory(out) as base, chromium_page() as page:
        refused = _block_the_internet(page)
        page.goto(base + "index.html")
        assert page.locator("h1").inner_text() == book.BOOK_TITLE
        links = page.locator("ol.chapters > li > a")
        assert links.count() == len(CHAPTERS)
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs == [f"{name}.html" for name in CHAPTERS], "index not in course order"
        assert all(h and "://" not in h and not h.startswith("/") for h in hrefs), hrefs
        for i in range(links.count()):
            assert page.locator("ol.chapters p.desc").nth(i).inner_text().strip(), (
                f"chapter {hrefs[i]} has no description on the index"
            )
        screenshot(page, "book_index", full_page=True)

        without_formula: list[str] = []
        for position, href in enumerate(hrefs):
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
            note = page.locator(".book-build-note").inner_text()
            assert "fast mode" in note, f"{href}: the page does not say how it was run: {note}"
            if "fashion" in name:
                assert ("mock data" if chapter.is_mock else "real dataset") in note, note
            nav = page.locator(".book-nav")
            if position + 1 < len(hrefs):
                assert nav.locator('a[rel="next"]').get_attribute("href") == hrefs[position + 1]
            if position > 0:
                assert nav.locator('a[rel="prev"]').get_attribute("href") == hrefs[position - 1]

            # (c) formulas typeset by the local MathJax, no TeX source left
            _wait_for_mathjax(page)
            formulas = page.locator(".jp-RenderedMarkdown .MathJax")
            assert page.evaluate(RAW_TEX_JS) == [], f"{href}: raw $...$ left in the text"
            if formulas.count():
                formulas.first.scroll_into_view_if_needed()
                screenshot(page, f"book_{name}_formula")
            else:  # checked after every page, so that one missing formula hides nothing else
                without_formula.append(name)

            # (d) no stderr box, no object repr, no progress line repeated per batch
            stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
            assert stderr.count() == 0, f"{href}: stderr shown: {stderr.all_inner_texts()}"
            texts = page.locator(".jp-OutputArea-output").all_inner_texts()
            reprs = [m.group(0) for text in texts for m in OBJECT_REPR.finditer(text)]
            assert not reprs, f"{href}: object reprs under outputs: {reprs}"
            for text in texts:  # a progress line printed with end="\r" shows its last state
                lines = text.splitlines()
                repeated = [a for a, b in zip(lines, lines[1:], strict=False)
                            if PROGRESS.match(a) and PROGRESS.match(b)]
                assert not repeated, f"{href}: one progress line per batch: {repeated[:3]}"

            if "fashion" in name:  # tqdm's widgets, drawn as static bars in their last state
                bars = page.locator(".book-progress progress")
                assert bars.count() > 0, f"{href}: no progress bar drawn"
                assert page.eval_on_selector_all(
                    ".book-progress progress", "bs => bs.every(b => b.value === b.max)"
                ), f"{href}: a progress bar is not in its final state"
                bars.first.scroll_into_view_if_needed()
                screenshot(page, f"book_{name}_progress")
            screenshot(page, f"book_{name}")
            page.locator(".jp-OutputArea-output img").first.scroll_into_view_if_needed()
            screenshot(page, f"book_{name}_plot")
            page.locator(".book-nav a.book-home").click()
            page.wait_for_url("**/index.html")
        assert refused == [], f"the book asked the internet for {refused}"
        assert not without_formula, (
            f"no typeset formula in {without_formula}: every chapter shows at least one "
            "(issue 15), written as $...$ in the notebook's markdown in authoring/"
        )
        assert any(c.is_mock for c in chapters.values()) == any(
            "fashion" in name and c.is_mock for name, c in chapters.items()
        ), "only the Fashion-MNIST chapter may run on mock data"
