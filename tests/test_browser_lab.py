"""End to end in JupyterLab: a student answers each release notebook in headless Chromium.

One JupyterLab server (started the way ``python -m autograder.student.lab`` starts it, nbgrader's
Validate button included) serves a temporary copy of ``release/``. For every release notebook
the test types the reference answers (``variants.as_submission``) into the exercise cells,
runs all cells and checks that no test cell shows an error; on the first notebook it presses
nbgrader's *Validate* and expects the success dialog; then it types a wrong answer into an
exercise (a mutant from ``examples/variants/``, a realistic mistake, else the release
stub), reruns that exercise and its test, and expects the failure on the page. Screenshots go
to ``artifacts/screenshots/lab_*.png``.

A second server starts as ``make lab`` does on a machine without internet and without a copy of
Fashion-MNIST (full mode, no source or mirror variable, an empty TFDS folder, and a proxy that
refuses every connection, so that the test sees the same whether or not the machine is
online): notebook 2's data cell must finish within seconds with the mock-data banner and no
traceback, and nbgrader's menu must not be there.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from autograder.build import release_path, source_path
from autograder.qa import variants
from autograder.student import lab
from tests.browser_util import chromium_page, screenshot, stop_process, wait_for_http

ASSIGNMENTS = lab.released_assignments()
VALIDATE_ON = ASSIGNMENTS[0] if ASSIGNMENTS else None
TOKEN = "tfcourse-browser-test-token"
STDERR = 'application/vnd.jupyter.stderr'
FASHION = "fashion_mnist"
OFFLINE_DATA_CELL_S = 20
RUN_ALL_TIMEOUT_MS = 240_000
VALIDATE_TIMEOUT_MS = 240_000
MAX_MUTANT_TRIES = 4
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: Notebook settings for the test only: keep every cell in the DOM (no virtual scrolling).
TEST_LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass
class LabServer:
    port: int
    workdir: Path

    def notebook_url(self, path: str, workspace: str) -> str:
        """The notebook alone in a fresh workspace (no tabs restored from an earlier test)."""
        return (f"http://127.0.0.1:{self.port}/lab/workspaces/{workspace}/tree/{path}"
                f"?reset&token={TOKEN}")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab on a temporary copy of release/, fast mode and mock Fashion-MNIST."""
    from tfcourse import data

    data.fetch_all()  # the breast_cancer notebook reads its file; fails loudly if unavailable
    env = {**os.environ, "TFCOURSE_MODE": "fast", "TFCOURSE_FASHION_MNIST": "mock"}
    yield from _start_lab(tmp_path_factory.mktemp("student"), env)


def _start_lab(root: Path, env: dict[str, str]):
    """A JupyterLab subprocess on ``root/work`` (release copied in); yields the LabServer."""
    workdir = root / "work"
    lab.prepare_workdir(workdir, quiet=True)
    settings = root / "lab-settings"
    for name, values in TEST_LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {**lab.server_env(workdir, env), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")}
    port = lab.free_port(18888)
    log = open(root / "jupyter.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        lab.server_command(workdir, port, TOKEN), cwd=workdir, env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", 90, proc)
        yield LabServer(port, workdir)
    finally:
        stop_process(proc)
        log.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def offline_lab_server(tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab as `make lab` starts it offline: full mode, no Fashion-MNIST anywhere."""
    from tfcourse import fashion_mnist

    root = tmp_path_factory.mktemp("offline")
    env = {k: v for k, v in os.environ.items() if k.lower() not in (
        "tfcourse_mode", fashion_mnist.SOURCE_ENV.lower(), fashion_mnist.MIRROR_ENV.lower(),
        "no_proxy")}
    dead_proxy = f"http://127.0.0.1:{_closed_port()}"
    env.update({fashion_mnist.TFDS_DIR_ENV: str(root / "tfds"), "http_proxy": dead_proxy,
                "https_proxy": dead_proxy, "HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy})
    yield from _start_lab(root, env)


@pytest.fixture(scope="module")
def page():
    with chromium_page() as pg:
        yield pg


def _cell(page, index: int):
    return page.locator(f"{PANEL} .jp-Notebook .jp-Cell").nth(index)


def _type_into_cell(page, index: int, code: str, cell_type: str) -> None:
    """Replace a cell's text as a student would: click, select all, type."""
    cell = _cell(page, index)
    cell.scroll_into_view_if_needed()
    if cell_type == "markdown":
        cell.locator(".jp-MarkdownOutput").dblclick()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(code)
    page.keyboard.press("Escape")  # back to command mode


def _prompts_js() -> str:
    return (
        f"[...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')]"
        ".map(e => e.textContent.trim())"
    )


def _run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # Done when no cell is queued or running and the first one has run (Run All marks every
    # queued cell [*] at once; after an error the rest go back to [ ]).
    page.wait_for_function(
        f"() => {{ const p = {_prompts_js()}; "
        "return p.length > 0 && /\\d/.test(p[0]) && !p.some(t => t.includes('*')); }",
        timeout=RUN_ALL_TIMEOUT_MS,
    )


def _run_cell(page, index: int) -> None:
    """Run one cell in place (Ctrl+Enter) and wait until its prompt shows a new count.

    On a loaded machine the first key press can land before the notebook has focus; if the
    prompt shows neither ``[*]`` nor a new count within 20 s, the cell is run again (the cells
    run this way are idempotent)."""
    prompt = _cell(page, index).locator(".jp-InputPrompt")
    before = prompt.inner_text().strip()
    started = "([el, before]) => el.textContent.trim() !== before"
    for attempt in range(2):
        prompt.click()
        page.keyboard.press("Control+Enter")
        try:
            page.wait_for_function(started, arg=[prompt.element_handle(), before],
                                   timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            if attempt:
                raise
    page.wait_for_function(
        "([el, before]) => { const t = el.textContent.trim(); "
        "return t !== before && /\\d/.test(t) && !t.includes('*'); }",
        arg=[prompt.element_handle(), before], timeout=RUN_ALL_TIMEOUT_MS,
    )


@dataclass
class WrongAnswer:
    name: str
    cells: dict[int, str]  # cell index -> code typed into that exercise
    test: int  # index of the test cell that must show the failure
    message: str = ""  # what the failure should say, if known


def _wrong_answers(assignment: str, release: nbformat.NotebookNode) -> list[WrongAnswer]:
    """The assignment's mutants (realistic mistakes) first, then the release stub."""
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in release.cells]
    index_of = {m["grade_id"]: i for i, m in enumerate(meta) if m.get("grade_id")}
    tests = [i for i, m in enumerate(meta) if m.get("grade") and not m.get("solution")]
    found = []
    for variant in variants.discover(assignment):
        if variant.is_correct or not set(variant.cells) <= set(index_of):
            continue
        cells = {index_of[g]: code for g, code in variant.cells.items()}
        test = index_of.get(variant.fails[0])
        if test in tests and test > max(cells):
            found.append(WrongAnswer(variant.name, cells, test, variant.message))
    stub = next(i for i, m in enumerate(meta) if m.get("solution") and any(t > i for t in tests))
    found.append(WrongAnswer("release stub", {stub: release.cells[stub].source},
                             next(t for t in tests if t > stub), "NotImplementedError"))
    return found


def _show_a_wrong_answer(page, assignment: str, release: nbformat.NotebookNode,
                         answered: nbformat.NotebookNode) -> WrongAnswer:
    """Type wrong answers until a visible test fails; restore the right one after a miss.

    Hidden tests catch some mutants that the visible asserts let through, so each mutant is
    tried in turn (at most ``MAX_MUTANT_TRIES``); the release stub always fails visibly.
    """
    candidates = _wrong_answers(assignment, release)
    for wrong in [*candidates[:-1][:MAX_MUTANT_TRIES], candidates[-1]]:
        for index, code in wrong.cells.items():
            _type_into_cell(page, index, code, release.cells[index].cell_type)
            if release.cells[index].cell_type == "code":
                _run_cell(page, index)
        _run_cell(page, wrong.test)
        if _stderr_text(page, wrong.test):
            return wrong
        for index in wrong.cells:
            _type_into_cell(page, index, answered.cells[index].source,
                            release.cells[index].cell_type)
            if release.cells[index].cell_type == "code":
                _run_cell(page, index)
    raise AssertionError(f"{assignment}: not even the release stub made a visible test fail")


def _stderr_text(page, index: int) -> str:
    outputs = _cell(page, index).locator(f'.jp-OutputArea-output[data-mime-type="{STDERR}"]')
    return "\n".join(outputs.all_inner_texts())


def _open(page, server: LabServer, assignment: str, n_cells: int) -> None:
    """Open the notebook and wait until all its cells are on the page and the kernel is idle."""
    page.goto(server.notebook_url(f"{assignment}/{assignment}.ipynb", assignment))
    page.wait_for_function(
        f"n => document.querySelectorAll('{PANEL} .jp-Notebook .jp-Cell').length === n",
        arg=n_cells, timeout=60_000,
    )
    # the kernel indicator says idle once the kernel has started
    page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
        timeout=120_000
    )


def _shutdown_kernels(server: LabServer) -> None:
    """Stop the kernels the notebook started, so later notebooks get the CPU and memory."""
    base = f"http://127.0.0.1:{server.port}/api/kernels"
    headers = {"Authorization": f"token {TOKEN}"}
    with urllib.request.urlopen(urllib.request.Request(base, headers=headers)) as resp:
        kernels = json.load(resp)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/{kernel['id']}", headers=headers,
                                         method="DELETE")
        urllib.request.urlopen(request).close()


def _validate(page, assignment: str) -> None:
    page.locator(f"{PANEL} .validate-button").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
    screenshot(page, f"lab_{assignment}_3_validate")
    body = dialog.locator(".jp-Dialog-body").inner_text()
    assert dialog.locator(".validation-success").count() == 1, (
        f"Validate did not report success for the reference answers:\n{body}"
    )
    assert "Success! Your notebook passes all the tests." in body
    dialog.locator(".jp-mod-accept").click()
    dialog.wait_for(state="detached")


def test_release_notebooks_exist() -> None:
    assert ASSIGNMENTS, "no release notebooks: run `python -m autograder.build`"


def test_prepare_workdir_keeps_student_work(tmp_path: Path) -> None:
    """A second start keeps edited notebooks; --reset backs them up before replacing them."""
    work = tmp_path / "work"
    notebooks = lab.prepare_workdir(work, quiet=True)
    assert [p.relative_to(work).parts[0] for p in notebooks] == ASSIGNMENTS
    edited = notebooks[0]
    edited.write_text(edited.read_text().replace("NotImplementedError", "ValueError"))
    mine = edited.read_text()
    lab.prepare_workdir(work, quiet=True)
    assert edited.read_text() == mine
    lab.prepare_workdir(work, reset=True, quiet=True)
    assert edited.read_text() == release_path(ASSIGNMENTS[0]).read_text()
    backups = list((work / ".backups").glob(f"*/{ASSIGNMENTS[0]}/{edited.name}"))
    assert [b.read_text() for b in backups] == [mine]
    config = json.loads((work / lab.LAB_CONFIG_DIRNAME / "jupyter_server_config.json").read_text())
    extensions = config["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.validate_assignment"] is True
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert "c.Execute.timeout" in (work / "nbgrader_config.py").read_text()
    page_config = work / lab.LAB_CONFIG_DIRNAME / "labconfig" / "page_config.json"
    assert json.loads(page_config.read_text())["disabledExtensions"]["@jupyter/nbgrader:menu"]


def test_student_nbgrader_config_has_only_options_nbgrader_knows(tmp_path: Path) -> None:
    """`nbgrader validate` (what the Validate button runs) reads the config without a warning."""
    work = tmp_path / "work"
    lab.prepare_workdir(work, quiet=True)
    nbformat.write(nbformat.v4.new_notebook(), work / "empty.ipynb")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "validate", "empty.ipynb"], cwd=work,
        env=lab.server_env(work), capture_output=True, text=True, timeout=180,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "not recognized" not in log, log
    assert "Success!" in log, log


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_answers_notebook_in_lab(page, lab_server: LabServer, assignment: str) -> None:
    """Reference answers pass in the page (and Validate agrees); a wrong answer fails."""
    release = nbformat.read(release_path(assignment), as_version=4)
    try:
        _answer_and_check(page, lab_server, assignment, release)
    finally:
        _shutdown_kernels(lab_server)


def _answer_and_check(page, lab_server: LabServer, assignment: str,
                      release: nbformat.NotebookNode) -> None:
    started = time.monotonic()
    answered = variants.as_submission(
        release, nbformat.read(source_path(assignment), as_version=4), None
    )
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in release.cells]
    solutions = [i for i, m in enumerate(meta) if m.get("solution") and not m.get("grade")]
    tests = [i for i, m in enumerate(meta) if m.get("grade") and not m.get("solution")
             and release.cells[i].cell_type == "code"]
    assert solutions and tests, f"{assignment}: no exercise or no test cell in the release"

    _open(page, lab_server, assignment, len(release.cells))
    for index in solutions:
        _type_into_cell(page, index, answered.cells[index].source, release.cells[index].cell_type)
    _run_all(page)
    laps = {"answer and run all": time.monotonic() - started}
    prompts = page.evaluate(f"() => {_prompts_js()}")
    errors = {i: _stderr_text(page, i) for i in tests}
    _cell(page, tests[-1]).scroll_into_view_if_needed()  # the last test, with its outputs
    screenshot(page, f"lab_{assignment}_1_passing")
    not_run = [p for p in prompts if not re.search(r"\d", p)]
    assert not not_run, (
        f"{assignment}: {len(not_run)} code cells did not run; errors shown: "
        + "\n".join(f"cell {i}: {t}" for i, t in errors.items() if t)
    )
    failing = {i: t for i, t in errors.items() if t}
    assert not failing, f"{assignment}: test cells show errors with the reference answers:\n" + (
        "\n".join(f"cell {i} ({meta[i].get('grade_id')}):\n{t}" for i, t in failing.items())
    )

    if assignment == VALIDATE_ON:
        _validate(page, assignment)
        laps["validate"] = time.monotonic() - started - sum(laps.values())

    wrong = _show_a_wrong_answer(page, assignment, release, answered)
    failure = _cell(page, wrong.test).locator(
        f'.jp-OutputArea-output[data-mime-type="{STDERR}"]'
    ).first
    failure.scroll_into_view_if_needed()
    screenshot(page, f"lab_{assignment}_2_failing")
    message = failure.inner_text()
    assert "Error" in message, f"{assignment}: {wrong.name}: no error shown:\n{message}"
    if wrong.name == "release stub":
        assert wrong.message in message, message
    print(f"\n{assignment}: wrong answer {wrong.name!r} fails {meta[wrong.test].get('grade_id')}:"
          f" {message.strip().splitlines()[-1]}")
    laps["wrong answer"] = time.monotonic() - started - sum(laps.values())
    print(f"\n{assignment}: " + ", ".join(f"{k} {v:.0f} s" for k, v in laps.items()))


@pytest.mark.browser
@pytest.mark.slow
def test_offline_lab_fashion_data_cell_is_quick_and_labelled(page, offline_lab_server) -> None:
    """(a) No internet, no mirror: the data cell shows the mock banner within seconds."""
    release = nbformat.read(release_path(FASHION), as_version=4)
    code = [i for i, c in enumerate(release.cells) if c.cell_type == "code"]
    data_cell = next(i for i in code if "fashion_mnist.load(" in release.cells[i].source)
    try:
        _open(page, offline_lab_server, FASHION, len(release.cells))
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "Nbgrader" not in menus, f"empty nbgrader menu in the lab: {menus}"
        assert page.locator(f"{PANEL} .validate-button").count() == 1
        for index in [i for i in code if i < data_cell]:  # the setup cell(s): imports
            try:
                _run_cell(page, index)
            except Exception:
                screenshot(page, "lab_fashion_mnist_offline_setup_stuck")
                raise
            assert not _stderr_text(page, index), (
                f"cell {index} shows stderr: {_stderr_text(page, index)}")
        started = time.monotonic()
        try:
            _run_cell(page, data_cell)
        except Exception:
            screenshot(page, "lab_fashion_mnist_offline_data_stuck")
            raise
        seconds = time.monotonic() - started
        cell = _cell(page, data_cell)
        cell.scroll_into_view_if_needed()
        screenshot(page, "lab_fashion_mnist_offline_data")
        outputs = cell.locator(".jp-OutputArea").inner_text()
        assert seconds < OFFLINE_DATA_CELL_S, f"the data cell took {seconds:.0f} s offline"
        assert "Traceback" not in outputs and not _stderr_text(page, data_cell), outputs
        banner = cell.locator(".tfcourse-mock-banner")
        assert banner.count() == 1 and banner.is_visible(), outputs
        text = banner.inner_text()
        assert "MOCK DATA" in text and "TFCOURSE_FASHION_MNIST_DIR" in text, text
        assert "restart the kernel" in text, text
        assert "one example: (28, 28, 1)" in outputs, outputs  # the cell went on with the data
        print(f"\noffline data cell: {seconds:.1f} s")
    finally:
        _shutdown_kernels(offline_lab_server)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(("variant", "says"), [
    ("mutant_loop_never_reset", "was not reset per epoch"),
    ("mutant_apply_gradient_loss_after_step", "that is the loss after the optimizer step"),
])
def test_validate_names_the_weeks_mistakes(page, lab_server: LabServer, variant: str,
                                           says: str) -> None:
    """Validate (what students press) fails on the two mistakes the week is about, metrics not
    reset per epoch and the loss computed after the step, with a message naming them."""
    assignment = "breast_cancer"
    release = nbformat.read(release_path(assignment), as_version=4)
    chosen = next(v for v in variants.discover(assignment) if v.name == variant)
    nb = variants.as_submission(release, nbformat.read(source_path(assignment), as_version=4),
                                chosen)
    name = f"{assignment}/{variant}.ipynb"
    nbformat.write(nb, lab_server.workdir / name)
    try:
        page.goto(lab_server.notebook_url(name, variant))
        page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=120_000)
        page.locator(f"{PANEL} .validate-button").click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
        screenshot(page, f"lab_validate_{variant}")
        body = dialog.locator(".jp-Dialog-body").inner_text()
        assert dialog.locator(".validation-success").count() == 0, body
        assert "Success!" not in body, body
        assert says.lower() in body.lower(), body
        dialog.locator(".jp-mod-accept").click()
    finally:
        _shutdown_kernels(lab_server)
