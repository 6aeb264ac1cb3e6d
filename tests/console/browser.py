"""A real headless Chromium for the console's browser tests (Debian's chromium and chromedriver).

Nothing is downloaded: the tests use /usr/bin/chromium and /usr/bin/chromedriver (``.ci/run`` installs
them with apt-get) and skip with the reason when either is missing. With
``HORDE_USERS_SCREENSHOTS=docs/images`` set, :func:`screenshots` saves each page at 360 and 1280 px.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("HORDE_USERS_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("HORDE_USERS_CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOTS_ENV = "HORDE_USERS_SCREENSHOTS"
WIDTHS = {"narrow": 360, "wide": 1280}
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install chromium chromium-driver; .ci/run does)"
    return None


@pytest.fixture
def driver() -> Iterator[Any]:
    """A fresh headless Chromium with its own profile directory, closed after the test."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="horde-console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={WIDTHS['wide']},900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to see CSP violations and JS errors
    service = Service(executable_path=str(CHROMEDRIVER))
    browser = webdriver.Chrome(options=options, service=service)
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshots(browser: Any, name: str) -> None:
    """Save the current page at each width into $HORDE_USERS_SCREENSHOTS (when set): ``name-narrow.png``.

    The window is resized to the page's full height so the picture shows the whole page.
    """
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    original = browser.get_window_size()
    try:
        for label, width in WIDTHS.items():
            height = 600
            for _ in range(3):  # resizing can reflow the page: measure until the height holds
                browser.set_window_size(width, height)
                inner = browser.execute_script("return window.innerHeight")
                content = browser.execute_script("return document.documentElement.scrollHeight")
                wanted = min(max(int(content) + (height - int(inner)), 600), 4000)
                if wanted == height:
                    break
                height = wanted
            browser.save_screenshot(str(target / f"console-{name}-{label}.png"))
    finally:
        browser.set_window_size(original["width"], original["height"])


def navigate(browser: Any, element: Any, *keys: str) -> None:
    """Click ``element`` (or type ``keys`` into it), then wait until the browser shows the next page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    if keys:
        element.send_keys(*keys)
    else:
        element.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(page))
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")


def browser_errors(browser: Any) -> list[str]:
    """The page errors the browser logged since the last call (CSP violations, script errors)."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
