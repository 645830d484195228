"""Build the self-study book: the reader's editions, executed, as static HTML pages.

Usage::

    python -m autograder.student.book                  # full mode into build/book/
    python -m autograder.student.book --fast           # TFCOURSE_MODE=fast: small data, few epochs
    python -m autograder.student.book --out /tmp/book training_basics

Each ``notebooks/<assignment>.ipynb`` (worked solutions, no hidden tests) is executed with
nbclient in a fresh kernel and rendered with nbconvert's ``lab`` template: outputs and plots
(embedded PNGs) included. ``index.html`` lists the notebooks with a one-line description taken
from each notebook's first markdown cell; every page links back to it and to its neighbours,
and offers the executed ``.ipynb``. All links are relative, so the folder can be served or
opened from anywhere.

Formulas are typeset by a copy of MathJax 2.7 from the ``jupyter-server-mathjax`` package,
copied into ``<out>/mathjax/``: the pages need no network. Stream outputs are shown as a terminal
would (text overwritten after a carriage return is dropped), so a progress line printed with
``end="\r"`` reads as its last state, not as one line per batch; tqdm's progress widgets are
drawn in their last state as static bars (live widgets would need scripts from a CDN). Each
page says in which mode and on which data it was executed.

Fashion-MNIST is used for real when a local copy exists (``$TFCOURSE_FASHION_MNIST_DIR`` or a
copy prepared by tensorflow_datasets) or when ``--fashion real`` lets TFDS download it;
otherwise the notebook runs on mock data, and a page whose outputs carry the loader's mock
banner gets a visible warning at its top.
"""

from __future__ import annotations

import argparse
import copy
import html
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.build import READERS, REPO_ROOT, assignments, reader_path
from tfcourse.mode import QUIET_TENSORFLOW_ENV

DEFAULT_OUT = REPO_ROOT / "build" / "book"
BOOK_TITLE = "Custom training loops in TensorFlow 2 and Keras 3"
BOOK_SUBTITLE = (
    "Worked notebooks: the gradient tape, losses and optimizers, metrics, and training loops "
    "written by hand."
)
CELL_TIMEOUT_S = 1800
DESCRIPTION_MAX = 220
MOCK_MARKER = "*** MOCK DATA"
MATHJAX_DIR = "mathjax"
#: MathJax 2.7's combined configuration shipped by jupyter-server-mathjax, plus its Safe mode.
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
#: The package ships the STIX web fonts only: tell HTML-CSS to use them, never an image font.
MATHJAX_FONTS = (
    '<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": '
    '{availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}});'
    "</script>"
)

PAGE_CSS = """
.book-nav { font: 15px/1.4 system-ui, sans-serif; padding: 10px 24px; background: #f4f6f8;
  border-bottom: 1px solid #d0d7de; display: flex; gap: 18px; flex-wrap: wrap; }
.book-nav a { color: #0b5cad; text-decoration: none; }
.book-nav a:hover { text-decoration: underline; }
.book-mock-banner { font: 16px/1.5 system-ui, sans-serif; margin: 16px 24px; padding: 12px 16px;
  background: #fff4d6; border: 2px solid #d4a017; border-radius: 6px; color: #4a3800; }
.book-progress { font: 13px/1.6 monospace; display: flex; gap: 8px; align-items: center; }
.book-progress progress { width: 16em; }
.book-build-note { font: 14px/1.4 system-ui, sans-serif; margin: 10px 24px 0; color: #57606a; }
"""

INDEX_CSS = """
body { font: 17px/1.55 system-ui, sans-serif; max-width: 52em; margin: 40px auto;
  padding: 0 20px; color: #1f2328; }
h1 { font-size: 1.9em; margin-bottom: .2em; }
.subtitle { color: #57606a; margin-top: 0; }
ol.chapters { padding-left: 1.4em; }
ol.chapters li { margin: 1.1em 0; }
ol.chapters a { font-size: 1.15em; font-weight: 600; color: #0b5cad; text-decoration: none; }
ol.chapters a:hover { text-decoration: underline; }
.desc { margin: .2em 0 0; color: #3d444d; }
.mock { color: #7a5a00; font-size: .9em; }
footer { margin-top: 3em; color: #57606a; font-size: .85em; }
"""


class BookError(RuntimeError):
    """A notebook of the book failed to execute or render."""


@dataclass
class Chapter:
    assignment: str
    title: str
    description: str
    seconds: float = 0.0
    is_mock: bool = False
    mode: str = "full"

    @property
    def page(self) -> str:
        return f"{self.assignment}.html"


def _plain(markdown: str) -> str:
    """Markdown to one line of plain text (links, emphasis and code marks removed)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"[*_`]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def describe(nb: nbformat.NotebookNode, fallback: str) -> tuple[str, str]:
    """Title (first heading) and one-line description (first paragraph's first sentence)."""
    first = next((c for c in nb.cells if c.cell_type == "markdown" and c.source.strip()), None)
    if first is None:
        return fallback, ""
    title, paragraph = fallback, []
    for line in first.source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if title == fallback:
                title = _plain(stripped.lstrip("#"))
            if paragraph:
                break
            continue
        if not stripped:
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    description = _plain(" ".join(paragraph))
    if len(description) > DESCRIPTION_MAX:
        sentence = re.match(r"(.+?[.!?])(\s|$)", description)
        description = sentence.group(1) if sentence else description
    if len(description) > DESCRIPTION_MAX:
        description = description[: DESCRIPTION_MAX - 1].rsplit(" ", 1)[0] + "…"
    return title, description


def fashion_source(requested: str) -> str | None:
    """Value for ``TFCOURSE_FASHION_MNIST`` in the kernels (``None``: leave the environment).

    ``auto`` uses the real data when a local copy exists and mock data otherwise, so that a
    build never waits on a download that cannot succeed; ``real`` lets TFDS download.
    """
    from tfcourse import fashion_mnist

    if requested in ("real", "mock"):
        return requested
    if os.environ.get(fashion_mnist.SOURCE_ENV):
        return None  # the caller chose explicitly
    if fashion_mnist.mirror_dir() is not None or fashion_mnist.is_prepared():
        return "real"
    print(
        "[book] Fashion-MNIST: no local copy, so its notebook runs on mock data and its page "
        f"says so (set {fashion_mnist.MIRROR_ENV}, or pass --fashion real to download it)."
    )
    return "mock"


def kernel_env(fast: bool, fashion: str | None) -> dict[str, str]:
    """Environment of the kernels that execute the notebooks."""
    from tfcourse import fashion_mnist

    env = dict(os.environ)
    env["TFCOURSE_MODE"] = "fast" if fast else "full"
    env.update(QUIET_TENSORFLOW_ENV)
    if fashion is not None:
        env[fashion_mnist.SOURCE_ENV] = fashion
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def execute(nb: nbformat.NotebookNode, env: dict[str, str], workdir: Path,
            name: str) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel; raise :class:`BookError` naming the failing cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    log = workdir / "kernel-stderr.log"  # TensorFlow's start-up chatter, kept out of the way
    with open(log, "w") as stderr:
        try:
            client.execute(env=env, stderr=stderr)
        except (CellExecutionError, DeadKernelError, CellTimeoutError) as exc:
            stderr.flush()
            tail = "\n".join(log.read_text().splitlines()[-20:])
            raise BookError(
                f"{name}: a cell failed while building the book:\n{exc}\n"
                f"--- last lines of the kernel's stderr ---\n{tail}"
            ) from exc
    return nb


def shows_mock_data(nb: nbformat.NotebookNode) -> bool:
    """True if an output carries the Fashion-MNIST loader's mock-data banner."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if output.get("output_type") != "stream":
                text = str(output.get("data", {}).get("text/plain", ""))
            if MOCK_MARKER in (text if isinstance(text, str) else "".join(text)):
                return True
    return False


def apply_carriage_returns(text: str) -> str:
    """What a terminal shows of ``text``: of each line, only the part after its last ``\\r``.

    A trailing ``\\r`` (a progress line waiting to be overwritten) keeps the last non-empty
    part, which is what stays on the screen.
    """
    lines = []
    for line in text.split("\n"):
        parts = [part for part in line.split("\r") if part]
        lines.append(parts[-1] if parts else "")
    return "\n".join(lines)


def tidy_streams(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Merge consecutive outputs of one stream and apply their carriage returns.

    The kernel sends a progress line printed with ``end="\\r"`` as its own output at every
    flush; static HTML would list each one on a line of its own.
    """
    for cell in nb.cells:
        merged: list = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                output["text"] = text if isinstance(text, str) else "".join(text)
                last = merged[-1] if merged else None
                if last is not None and last.get("output_type") == "stream" and (
                    last.get("name") == output.get("name")
                ):
                    last["text"] += output["text"]
                    continue
            merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream" and "\r" in output["text"]:
                output["text"] = apply_carriage_returns(output["text"])
        if "outputs" in cell:
            cell["outputs"] = merged
    return nb


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROGRESS_MODELS = ("FloatProgressModel", "IntProgressModel")


def _progress_bar_html(model: dict, state: dict) -> str | None:
    """A tqdm bar (HBox of HTML, progress, HTML) in its final state as static HTML."""
    children = [state.get(c.removeprefix("IPY_MODEL_"), {})
                for c in model.get("state", {}).get("children", [])]
    names = [c.get("model_name") for c in children]
    if len(children) != 3 or names[0] != "HTMLModel" or names[1] not in PROGRESS_MODELS:
        return None
    left, bar, right = (c.get("state", {}) for c in children)
    return (
        f'<div class="book-progress">{left.get("value", "")} '
        f'<progress value="{bar.get("value", 0)}" max="{bar.get("max", 1)}"></progress> '
        f'{right.get("value", "")}</div>'
    )


def static_widgets(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose widget outputs are static HTML (progress bars) or plain text.

    Live widgets need require.js and the widget manager from a CDN; a static page shows their
    last state instead, so the book works without internet.
    """
    nb = copy.deepcopy(nb)
    state = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            model = state.get(data[WIDGET_VIEW].get("model_id"), {})
            bar = _progress_bar_html(model, state)
            del data[WIDGET_VIEW]
            if bar is not None:
                data["text/html"] = bar
    return nb


def copy_mathjax(out: Path) -> Path:
    """Copy MathJax (from the ``jupyter-server-mathjax`` package) into ``out/mathjax``."""
    try:
        from jupyter_server_mathjax.app import STATIC_ASSETS_PATH
    except ImportError as exc:  # requirements.txt pins it
        raise BookError(
            "jupyter-server-mathjax is not installed (it ships the MathJax copy the book "
            "serves): .venv/bin/pip install -r requirements.txt"
        ) from exc
    target = Path(out) / MATHJAX_DIR
    shutil.copytree(STATIC_ASSETS_PATH, target, dirs_exist_ok=True)
    return target


def _build_note(chapter: Chapter) -> str:
    """One line saying how and on which data the page was executed."""
    mode = ("fast mode: small data and few epochs, so numbers and timings are rough"
            if chapter.mode == "fast" else "full mode: all the data, every epoch")
    data = ""
    if "fashion" in chapter.assignment:
        data = (" Fashion-MNIST: <strong>mock data</strong> (random images)."
                if chapter.is_mock else " Fashion-MNIST: the real dataset.")
    return (f'<p class="book-build-note">Executed {time.strftime("%Y-%m-%d")} in {mode} '
            f"({chapter.seconds:.0f} s on {os.cpu_count()} CPU cores).{data}</p>")


def _nav(chapters: list[Chapter], index: int) -> str:
    links = ['<a href="index.html" class="book-home">&larr; Contents</a>']
    if index > 0:
        prev = chapters[index - 1]
        links.append(f'<a href="{prev.page}" rel="prev">Previous: {html.escape(prev.title)}</a>')
    if index + 1 < len(chapters):
        nxt = chapters[index + 1]
        links.append(f'<a href="{nxt.page}" rel="next">Next: {html.escape(nxt.title)}</a>')
    links.append(f'<a href="{chapters[index].assignment}.ipynb" download>Download notebook</a>')
    return '<nav class="book-nav">' + "".join(links) + "</nav>"


def mock_banner_html() -> str:
    from tfcourse.fashion_mnist import MIRROR_ENV

    return (
        '<div class="book-mock-banner" role="alert"><strong>Mock data.</strong> Fashion-MNIST '
        "was not available when this page was built, so the notebook ran on random images "
        "with the real shapes (<code>tfds.testing.mock_data</code>). The losses, accuracies "
        "and pictures below say nothing about the real dataset. Rebuild the book with the "
        f"data present (<code>{MIRROR_ENV}</code> or <code>--fashion real</code>) for real "
        "results.</div>"
    )


def render_page(nb: nbformat.NotebookNode, chapters: list[Chapter], index: int) -> str:
    """One chapter as a standalone HTML page with the book's navigation (and mock banner)."""
    from nbconvert import HTMLExporter

    chapter = chapters[index]
    nb = static_widgets(nb)
    nb.metadata["title"] = chapter.title
    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX_URL)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": chapter.title}})
    # require.js (from a CDN) only serves live widgets, which the page no longer has.
    body = body.replace(f'<script src="{exporter.require_js_url}"></script>', "")
    top = (_nav(chapters, index) + (mock_banner_html() if chapter.is_mock else "")
           + _build_note(chapter))
    body, found = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + top, body, count=1)
    if not found:
        raise BookError(f"{chapter.assignment}: nbconvert produced no <body> tag")
    if MATHJAX_URL not in body:
        raise BookError(f"{chapter.assignment}: the page does not load the local MathJax")
    return body.replace("</head>", f"{MATHJAX_FONTS}\n<style>{PAGE_CSS}</style>\n</head>", 1)


def render_index(chapters: list[Chapter], mode: str) -> str:
    items = []
    for chapter in chapters:
        mock = ' <span class="mock">(built on mock data)</span>' if chapter.is_mock else ""
        items.append(
            f'<li><a href="{chapter.page}">{html.escape(chapter.title)}</a>{mock}'
            f'<p class="desc">{html.escape(chapter.description)}</p></li>'
        )
    built = time.strftime("%Y-%m-%d %H:%M")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(BOOK_TITLE)}</title>\n<style>{INDEX_CSS}</style>\n</head>\n"
        f"<body>\n<h1>{html.escape(BOOK_TITLE)}</h1>\n"
        f'<p class="subtitle">{html.escape(BOOK_SUBTITLE)}</p>\n'
        f'<ol class="chapters">\n' + "\n".join(items) + "\n</ol>\n"
        f"<footer>Built {built} in {mode} mode. Students: the exercises of each notebook are in "
        "the course's JupyterLab (<code>make lab</code>).</footer>\n</body>\n</html>\n"
    )


def build_book(
    out: Path = DEFAULT_OUT,
    *,
    fast: bool = False,
    fashion: str = "auto",
    selected: list[str] | None = None,
) -> list[Chapter]:
    """Execute and render the reader's editions into ``out``; return the chapters built."""
    names = [a for a in (selected or assignments()) if reader_path(a).is_file()]
    if not names:
        raise BookError(f"no reader's notebooks in {READERS}; run `python -m autograder.build`")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = kernel_env(fast, fashion_source(fashion))
    mode = "fast" if fast else "full"
    executed: list[nbformat.NotebookNode] = []
    chapters: list[Chapter] = []
    with tempfile.TemporaryDirectory(prefix="tfcourse-book-") as tmp:
        for name in names:
            nb = nbformat.read(reader_path(name), as_version=4)
            title, description = describe(nb, name.replace("_", " ").capitalize())
            print(f"[book] {name}: executing ({mode} mode) ...", flush=True)
            started = time.monotonic()
            workdir = Path(tmp) / name
            workdir.mkdir()
            execute(nb, env, workdir, name)
            tidy_streams(nb)
            chapter = Chapter(name, title, description, time.monotonic() - started,
                              shows_mock_data(nb), mode)
            print(f"[book] {name}: {chapter.seconds:.0f} s"
                  + (" (mock Fashion-MNIST)" if chapter.is_mock else ""), flush=True)
            executed.append(nb)
            chapters.append(chapter)
    for index, (chapter, nb) in enumerate(zip(chapters, executed, strict=True)):
        nbformat.write(nb, out / f"{chapter.assignment}.ipynb")
        (out / chapter.page).write_text(render_page(nb, chapters, index), encoding="utf-8")
    copy_mathjax(out)
    (out / "index.html").write_text(render_index(chapters, mode), encoding="utf-8")
    print(f"[book] wrote {out / 'index.html'} and {len(chapters)} pages")
    return chapters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.student.book",
        description="Execute the reader's notebooks and render them as a static HTML book.",
    )
    parser.add_argument("assignments", nargs="*",
                        help=f"default: all ({', '.join(assignments())})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output folder (default: {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    parser.add_argument("--fast", action="store_true",
                        help="TFCOURSE_MODE=fast: small data and few epochs (minutes, not hours)")
    parser.add_argument("--fashion", choices=("auto", "real", "mock"), default="auto",
                        help="Fashion-MNIST source: auto = real if a local copy exists, else mock")
    parser.add_argument("--clean", action="store_true", help="empty the output folder first")
    args = parser.parse_args(argv)
    unknown = set(args.assignments) - set(assignments())
    if unknown:
        parser.error(f"unknown assignments {sorted(unknown)}")
    if args.clean and args.out.exists():
        shutil.rmtree(args.out)
    from tfcourse import data

    try:
        data.fetch_all()
        build_book(args.out, fast=args.fast, fashion=args.fashion,
                   selected=args.assignments or None)
    except (BookError, data.DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
