"""Shared helpers of the browser tests: headless Chromium, loopback servers, screenshots.

The browser is Debian's Chromium (``apt-get install chromium chromium-driver``) driven by
Playwright; no Playwright browser download is needed or used.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM_ENV = "TFCOURSE_CHROMIUM"
CHROMIUM_DEFAULT = "/usr/bin/chromium"
#: Flags for Chromium as root on a closed network; Playwright adds a fresh profile folder.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str:
    """Path of the Chromium binary; fails the test (never skips) when it is missing."""
    candidate = os.environ.get(CHROMIUM_ENV) or CHROMIUM_DEFAULT
    found = candidate if Path(candidate).is_file() else shutil.which(candidate)
    if not found:
        pytest.fail(
            f"Chromium not found at {candidate!r}. Install it with "
            f"`apt-get install -y chromium chromium-driver` (CI does), or point "
            f"${CHROMIUM_ENV} at a Chromium binary.",
            pytrace=False,
        )
    return str(found)


@contextmanager
def chromium_page(default_timeout_ms: int = 30_000) -> Iterator:
    """A Playwright page in headless Chromium; the browser is closed on exit."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements.txt pins playwright
        pytest.fail("playwright is not installed: pip install -r requirements.txt", pytrace=False)
    executable = chromium_path()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            page = context.new_page()
            page.set_default_timeout(default_timeout_ms)
            yield page
        finally:
            browser.close()


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Save ``artifacts/screenshots/<name>.png`` and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_for_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s: {last}")


def stop_process(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    """Terminate one process we started (by its own handle), killing it if it hangs."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve_directory(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
