"""The console's main flows in a real browser, each step checked over the API behind the console's back.

Search the synced index, open a user, change a role with a reason, confirm, find the change in the
journal, undo it, then upload a bulk file with a bad row (refused whole) and a good one (applied).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from horde_users.console.server import ConsoleServer
from tests.console.browser import browser_errors, driver, navigate, screenshots
from tests.console.conftest import World

__all__ = ["driver"]


def text_of(browser: Any, selector: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, selector).text)


def wait_until_finished(browser: Any) -> None:
    """Wait for a progress page's job to end (the script reloads the page when it does)."""
    # the page reloads under us while it is polled: a vanished element means "look again"
    wait = WebDriverWait(browser, 60, poll_frequency=0.3, ignored_exceptions=(WebDriverException,))
    wait.until(lambda b: "running" not in b.find_element(By.CSS_SELECTOR, "[data-job] h2").text)
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")


def test_search_change_journal_undo_and_bulk(
    driver: Any, console: ConsoleServer, world: World, tmp_path: Path
) -> None:
    target = world.target.id
    driver.get(console.login_url)
    assert "never fully synced" in text_of(driver, ".index-state")

    # sync the index, with the progress page
    navigate(driver, driver.find_element(By.CSS_SELECTOR, ".index-state button"))
    assert "/sync/" in driver.current_url
    wait_until_finished(driver)
    assert "Synced 5 users" in text_of(driver, "p.ok")  # Anonymous and the four of World
    screenshots(driver, "sync")

    # search
    navigate(driver, driver.find_element(By.LINK_TEXT, "Back to search"))
    assert "Index synced" in text_of(driver, ".index-state")
    navigate(driver, driver.find_element(By.ID, "q"), "targ", Keys.ENTER)
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.results tbody td:first-child a")]
    assert names == [f"target#{target}"]
    screenshots(driver, "search")

    # open the user, change a role with a reason, confirm
    navigate(driver, driver.find_element(By.LINK_TEXT, f"target#{target}"))
    Select(driver.find_element(By.ID, "f_flagged")).select_by_value("true")
    driver.find_element(By.ID, "reason").send_keys("spam reports")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.edit button[type=submit]"))
    assert world.account(target)["flagged"] is False
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]"))
    assert world.account(target)["flagged"] is True
    entry_link = driver.find_element(By.CSS_SELECTOR, "p.ok a")
    entry_id = int(entry_link.text.lstrip("#"))

    # the journal shows it, with its diff
    navigate(driver, driver.find_element(By.LINK_TEXT, "Journal"))
    first_row = text_of(driver, "table.journal tbody tr")
    assert f"#{entry_id}" in first_row
    assert "flagged: no → yes" in first_row
    assert "spam reports" in first_row
    screenshots(driver, "journal")

    # undo it, behind its confirm step
    navigate(driver, driver.find_element(By.CSS_SELECTOR, f"a[href='/journal/{entry_id}/undo']"))
    assert "flagged" in text_of(driver, "table.diff-table")
    screenshots(driver, "undo")
    assert world.account(target)["flagged"] is True
    driver.find_element(By.ID, "undo-reason").send_keys("reports were wrong")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]"))
    assert "undo was sent" in text_of(driver, "p.ok")
    assert world.account(target)["flagged"] is False
    assert f"undoes #{entry_id}" in text_of(driver, "table.journal tbody tr")

    # undoing it again is refused, and the page says why
    driver.get(f"{console.url}/journal/{entry_id}/undo")
    assert f"already undone by #{entry_id + 1}" in text_of(driver, "#undo-conflicts")

    # a bulk file with a bad row is refused whole; nothing is sent
    bad = tmp_path / "bad.csv"
    bad.write_text(f"user_id,trusted,concurrency,reason\n{target},true,40,vetted\n{target},maybe,41,oops\n")
    navigate(driver, driver.find_element(By.LINK_TEXT, "Bulk"))
    driver.find_element(By.ID, "bulk-file").send_keys(str(bad))
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]"))
    errors = text_of(driver, "#bulk-errors")
    assert "row 2" in errors
    assert driver.find_elements(By.CSS_SELECTOR, "form.confirm") == []
    screenshots(driver, "bulk-errors")
    assert world.account(target)["trusted"] is False

    # the corrected file: the plan, then apply with progress, then the report
    good = tmp_path / "good.csv"
    good.write_text(f"user_id,trusted,concurrency,reason\n{target},true,40,vetted\n{world.plain.id},,35,\n")
    driver.get(f"{console.url}/bulk")
    driver.find_element(By.ID, "bulk-file").send_keys(str(good))
    driver.find_element(By.ID, "bulk-reason").send_keys("spring clean-up")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.panel button[type=submit]"))
    plan_rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "table.plan tbody tr")]
    assert len(plan_rows) == 2
    assert "spring clean-up" in plan_rows[1]
    screenshots(driver, "bulk-plan")
    assert world.account(target)["trusted"] is False
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]"))
    wait_until_finished(driver)
    outcomes = [
        cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table.report tbody td:nth-child(4)")
    ]
    assert outcomes == ["done", "done"]
    screenshots(driver, "bulk-report")
    account = world.account(target)
    assert account["trusted"] is True
    assert account["concurrency"] == 40
    assert world.account(world.plain.id)["concurrency"] == 35
    # no CSP violation, no script error, no missing asset on the way (the refused file's page is a 400)
    refused_upload = (
        f"{console.url}/bulk - Failed to load resource: the server responded with a status of 400"
    )
    assert [error for error in browser_errors(driver) if not error.startswith(refused_upload)] == []
