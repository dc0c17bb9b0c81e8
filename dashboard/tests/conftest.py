"""Browser-test fixtures: Debian's headless Chromium driven by Playwright against pytest-django's
``live_server``, a private Mosquitto per test, console-error checks and screenshots on failure.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from dashboard.tests.support import ARTIFACTS, DESKTOP, PAGES

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or .ci/system-packages)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code, which Django would otherwise refuse.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class Console:
    """Console errors and uncaught exceptions of every page, and every URL requested."""

    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """An error the test provokes on purpose (e.g. the 400 of a refused registration)."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@dataclass
class Browser:
    page: object
    context: object
    console: Console
    url: str

    def open(self, path: str, *, ready: bool = True):
        self.page.goto(self.url + path)
        if ready:
            self.page.wait_for_selector("body[data-ready=true]", state="attached")
        return self.page


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


def _screenshots_on_failure(ui: Browser, test_name: str) -> None:
    """The open pages as they were, then every dashboard page in the same session."""
    folder = ARTIFACTS / _safe_name(test_name)
    folder.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(ui.context.pages):
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / f"open-{index}.png"), full_page=True, timeout=5000)
    with contextlib.suppress(Exception):
        page = ui.context.new_page()
        for path in PAGES:
            with contextlib.suppress(Exception):
                page.goto(ui.url + path, timeout=5000)
                page.wait_for_timeout(1000)
                page.screenshot(
                    path=str(folder / f"page{_safe_name(path)}.png"), full_page=True, timeout=5000
                )
    (folder / "console.txt").write_text("\n".join(ui.console.errors))


def _watch(page, console: Console) -> None:
    page.on(
        "console",
        lambda message: message.type == "error"
        and console.errors.append(f"{page.url}: {message.text}"),
    )
    page.on("pageerror", lambda error: console.errors.append(f"{page.url}: uncaught {error}"))
    page.on("request", lambda request: console.urls.append(request.url))


@pytest.fixture
def open_browser(browser, live_server, request):
    """``open_browser(viewport=DESKTOP)`` -> a fresh browser session (cookies, storage)."""
    sessions: list[Browser] = []

    def make(*, viewport: dict | None = None) -> Browser:
        context = browser.new_context(viewport=viewport or DESKTOP, accept_downloads=True)
        context.set_default_timeout(15_000)
        console = Console()
        context.on("page", lambda page: _watch(page, console))
        ui = Browser(page=context.new_page(), context=context, console=console, url=live_server.url)
        sessions.append(ui)
        return ui

    yield make
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    for index, ui in enumerate(sessions):
        if failed:
            _screenshots_on_failure(ui, f"{request.node.name}-{index}")
        ui.context.close()
    if not failed:
        errors = [e for ui in sessions for e in ui.console.unexpected()]
        assert not errors, "console errors:\n" + "\n".join(errors)


@pytest.fixture
def ui(open_browser) -> Browser:
    return open_browser()


# --- a private Mosquitto -------------------------------------------------------------------


@dataclass
class Mosquitto:
    url: str
    port: int
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mosquitto(tmp_path) -> Mosquitto:
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.skip("mosquitto is not installed (.ci/system-packages installs it)")
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        # As root Mosquitto would switch to its own user, which cannot read tmp_path.
        f"user {getpass.getuser()}\n"
        "persistence false\n"
        "allow_anonymous true\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    broker = Mosquitto(url=f"mqtt://127.0.0.1:{port}", port=port, process=process)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                broker.stop()
                raise RuntimeError("mosquitto did not start") from None
            time.sleep(0.05)
    yield broker
    broker.stop()
