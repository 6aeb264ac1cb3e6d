"""The user page in a real browser: open a user, change a role with a reason, confirm, check the API."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[dev]')")

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from horde_users.console.server import ConsoleServer
from tests.console.browser import driver, navigate, screenshots
from tests.console.conftest import HOSTILE_NAME, World

__all__ = ["driver"]  # the fixture, imported so pytest finds it here


def field(browser: Any, name: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'dd[data-field="{name}"]').text)


def test_change_a_role_with_a_reason_after_confirming(
    driver: Any, console: ConsoleServer, world: World
) -> None:
    driver.get(console.login_url)
    assert "token=" not in driver.current_url
    navigate(driver, driver.find_element(By.ID, "open-id"), str(world.target.id), Keys.ENTER)
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("target#")
    assert field(driver, "trusted") == "no"
    screenshots(driver, "user")

    Select(driver.find_element(By.ID, "f_trusted")).select_by_visible_text("yes")
    driver.find_element(By.ID, "f_concurrency").send_keys("45")
    driver.find_element(By.ID, "reason").send_keys("verified on the forum")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.edit button[type=submit]"))

    assert driver.find_element(By.TAG_NAME, "h1").text == "Confirm changes"
    rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "table.diff-table tbody tr")]
    assert rows == ["Trusted no yes", "Concurrency 30 45"]
    assert world.account(world.target.id)["trusted"] is False  # nothing sent before the confirm
    screenshots(driver, "confirm")

    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]"))
    assert "Done" in driver.find_element(By.CSS_SELECTOR, "p.ok").text
    assert field(driver, "trusted") == "yes"
    account = world.account(world.target.id)
    assert account["trusted"] is True
    assert account["concurrency"] == 45


def test_a_change_without_reason_or_with_a_bad_value_is_not_sent(
    driver: Any, console: ConsoleServer, world: World
) -> None:
    driver.get(console.login_url)
    driver.get(f"{console.url}/users/{world.target.id}")
    driver.find_element(By.ID, "f_concurrency").send_keys("900")
    driver.find_element(By.ID, "reason").send_keys("too much")
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.edit button[type=submit]"))
    alert = driver.find_element(By.ID, "form-errors").text
    assert "Concurrency: at most 500" in alert
    assert world.account(world.target.id)["concurrency"] == 30


def test_delete_and_undelete_each_behind_a_confirm(driver: Any, console: ConsoleServer, world: World) -> None:
    driver.get(console.login_url)
    driver.get(f"{console.url}/users/{world.plain.id}")
    navigate(driver, driver.find_element(By.ID, "reason-delete"), "spam account", Keys.ENTER)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Confirm deletion"
    assert world.account(world.plain.id)["deleted"] is False
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]"))
    assert world.account(world.plain.id)["deleted"] is True

    navigate(driver, driver.find_element(By.ID, "reason-undelete"), "appeal accepted", Keys.ENTER)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Confirm undeletion"
    navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]"))
    assert world.account(world.plain.id)["deleted"] is False


def test_a_hostile_username_runs_nothing(driver: Any, console: ConsoleServer, world: World) -> None:
    driver.get(console.login_url)
    driver.get(f"{console.url}/users/{world.hostile.id}")
    assert driver.find_element(By.TAG_NAME, "h1").text == f"{HOSTILE_NAME}#{world.hostile.id}"
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        alert = None
    assert alert is None


def test_keyboard_alone_reaches_the_form_with_a_visible_focus(
    driver: Any, console: ConsoleServer, world: World
) -> None:
    driver.get(console.login_url)
    driver.get(f"{console.url}/users/{world.target.id}")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    skip = driver.switch_to.active_element
    assert skip.text == "Skip to content"
    assert skip.value_of_css_property("outline-style") != "none"
    skip.send_keys(Keys.ENTER)
    # from the main region, Tab walks the controls in order; every one has a label and shows focus
    seen = []
    for _ in range(60):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        element = driver.switch_to.active_element
        if element.tag_name in ("select", "input", "textarea"):
            element_id = element.get_attribute("id")
            labels = driver.find_elements(By.CSS_SELECTOR, f'label[for="{element_id}"]')
            assert labels, f"control {element_id} has no label"
            assert element.value_of_css_property("outline-style") != "none", element_id
            seen.append(element_id)
        if seen and seen[-1] == "reason":
            break
    assert "f_trusted" in seen
    assert "reason" in seen
    # and the form is sent from the keyboard too
    Select(driver.find_element(By.ID, "f_trusted")).select_by_value("true")
    navigate(driver, driver.find_element(By.ID, "reason"), "keyboard only", Keys.ENTER)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Confirm changes"
    confirm = driver.switch_to.active_element  # the confirm button has the focus
    assert confirm.text == "Confirm and send"
    navigate(driver, confirm, Keys.ENTER)
    assert world.account(world.target.id)["trusted"] is True
