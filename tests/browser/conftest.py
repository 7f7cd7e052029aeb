"""Browser tests: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The page is tested against the real `python -m service` process serving the tiny model
(tests/conftest.py), the way people use it: the file input, drag and drop, the keyboard, no
JavaScript, a phone-sized screen.

Chromium comes from the system (`make test` installs Debian's package when it is missing); the
Playwright wheel brings only its driver, since browser downloads are not possible here. When the
browser is missing these tests FAIL, with the fix in the message; PENGUIN_SKIP_BROWSER=1 skips
them instead, and the run then ends with a loud banner saying the page was not tested.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import DESKTOP, SMALL_LIMIT
from service_process import ServiceProcess

CHROMIUM = Path(os.environ.get("PENGUIN_CHROMIUM", "/usr/bin/chromium"))
SKIP_ENV = "PENGUIN_SKIP_BROWSER"
# Without the background-networking flags Chromium's own connections fail on a closed network
# and can stall the page. Playwright adds --headless and a fresh temporary --user-data-dir.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAUNCH_TIMEOUT_MS = 60_000
ACTION_TIMEOUT_MS = 10_000

_skipped_because: list[str] = []


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file():
        return (f"Chromium is not installed ({CHROMIUM} is missing). `make test` installs it "
                "(apt-get install chromium chromium-driver, with sudo unless root); install it "
                f"that way by hand, or set {SKIP_ENV}=1 to skip the browser tests.")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("the playwright package is missing from this venv; run `make setup` "
                "(pyproject's dev extra pins it).")
    return None


def require_browser(problem: str | None = None) -> None:
    """Fail with the reason when the browser cannot run; skip instead when opted out."""
    if os.environ.get(SKIP_ENV) == "1":
        reason = problem or browser_problem() or "skipped on request (Chromium is installed)."
        _skipped_because.append(reason)
        pytest.skip(f"BROWSER TESTS SKIPPED ({SKIP_ENV}=1): {reason}")
    if problem := problem or browser_problem():
        pytest.fail(f"The browser tests cannot run: {problem}", pytrace=False)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped_because:
        terminalreporter.write_sep(
            "!", f"BROWSER TESTS DID NOT RUN ({SKIP_ENV}=1): the web page was NOT tested",
            red=True, bold=True)
        terminalreporter.write_line(_skipped_because[0], red=True, bold=True)


# ---- The servers --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def servers(tiny_model_path: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two servers, started side by side: default limits, and uploads up to SMALL_LIMIT."""
    require_browser()
    logs = tmp_path_factory.mktemp("servers")
    with (ServiceProcess(tiny_model_path, logs / "default.log", DECODE_WORKERS="1") as default,
          ServiceProcess(tiny_model_path, logs / "small.log", DECODE_WORKERS="1",
                         MAX_UPLOAD_BYTES=str(SMALL_LIMIT)) as small):
        started = {"default": default, "small": small}
        for service in started.values():
            service.wait_until_ready()
        yield {name: service.url for name, service in started.items()}


@pytest.fixture(scope="session")
def server(servers: dict[str, str]) -> str:
    """Base URL of the server with the default limits (10 MiB uploads)."""
    return servers["default"]


@pytest.fixture(scope="session")
def small_server(servers: dict[str, str]) -> str:
    """Base URL of the server that refuses uploads over SMALL_LIMIT bytes."""
    return servers["small"]


@pytest.fixture(scope="session")
def colour_photo(photo: Callable[..., bytes]) -> Callable[..., bytes]:
    """colour_photo("red", size=(640, 480)) -> a plain JPEG of that colour, made by the suite's
    `photo` fixture; the tiny model names its species (browser_helpers.SPECIES_OF)."""

    def make(colour: str, size: tuple[int, int] = (640, 480)) -> bytes:
        return photo(colour, size=size, quality=90)

    return make


# ---- The browser --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, with Playwright running for one test module only.

    Between its calls Playwright's sync API leaves its event loop marked as running on the main
    thread (its driver runs in a greenlet there), so `asyncio.run()` refuses to start until
    Playwright stops. Stopped after each module, it never outlives the browser tests, whatever
    runs next. (A package-scoped fixture would be session-scoped here: pytest scopes it to a
    package, and tests/ holds plain folders without __init__.py.)
    """
    require_browser()
    from playwright.sync_api import Error, expect, sync_playwright

    expect.set_options(timeout=ACTION_TIMEOUT_MS)  # a loaded 2-core CI machine is slow

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                  args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS)
        except Error as error:
            require_browser(f"Chromium at {CHROMIUM} did not start: {error}")
        yield launched
        launched.close()


class PageErrors:
    """Script errors and console errors (CSP violations among them) seen by the pages."""

    # Chromium logs every non-2xx fetch this way; the tests check those answers themselves.
    EXPECTED = ("Failed to load resource",)

    def __init__(self) -> None:
        self.messages: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.messages.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith(self.EXPECTED):
            self.messages.append(f"console error: {message.text}")


NewPage = Callable[..., Any]


@pytest.fixture
def new_page(browser: Any) -> Iterator[NewPage]:
    """new_page(**context_options) -> a Page in a fresh context (desktop size by default).

    The test fails if any of its pages had a script error or logged a console error.
    """
    contexts: list[Any] = []
    errors = PageErrors()

    def make(**options: Any) -> Any:
        context = browser.new_context(**{"viewport": DESKTOP, **options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors.watch(page)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors.messages, "\n".join(errors.messages)


@pytest.fixture
def page(new_page: NewPage) -> Any:
    """A desktop-sized page with JavaScript."""
    return new_page()
