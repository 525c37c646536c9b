"""The page in a real browser (Debian's chromium, driven by Selenium through chromedriver):
it shows the schedules and their next fire times, and its buttons act with a token and
are refused without one. `.ci/run` installs chromium; elsewhere these tests skip, saying why.

With SCHED_SCREENSHOTS=DIR the test also saves the main pages as PNG files there (the
README's screenshots in docs/ come from this)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_web import SECRET, Site, dead_letter_of_broken

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
    "chromium-driver; .ci/run installs them)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-sync",
                 "--disable-component-update", "--window-size=1400,900",
                 "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def site(redis_url: str) -> Iterator[Site]:
    s = Site(redis_url, f"alice:{SECRET}")
    yield s
    s.server.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.1)


def shoot(driver: Any, name: str) -> None:
    folder = os.environ.get("SCHED_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_the_page_shows_schedules_and_acts_only_with_the_token(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = f"http://127.0.0.1:{site.port}"
    browser.get(f"{base}/?q=o")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.schedules tbody tr")
    names = [row.find_element(By.CSS_SELECTOR, "td a").text for row in rows]
    assert names == ["broken", "often"]
    often = rows[1]
    assert "2026-06-01T12:01:00Z" in often.text  # its next fire time
    assert "every 1m" in often.text
    shoot(browser, "schedules")

    def click(label: str) -> None:
        row = browser.find_element(By.XPATH, "//tr[td/a[text()='often']]")
        row.find_element(By.XPATH, f".//button[text()='{label}']").click()

    def said() -> str:
        return str(browser.find_element(By.ID, "message").text)

    click("pause")  # no token entered yet
    wait_for(lambda: said() == "enter the token first", 5, "asked for the token")
    token = browser.find_element(By.ID, "token")
    token.send_keys("not-the-token", Keys.TAB)
    click("pause")
    wait_for(lambda: said().startswith("pause refused: an action needs"), 5, "refused")
    assert not site.store.reads.states(["often"])["often"].paused
    token.clear()
    token.send_keys(SECRET, Keys.TAB)
    click("pause")
    wait_for(lambda: site.store.reads.states(["often"])["often"].paused, 5, "paused")
    wait_for(lambda: said() == "pause: done", 5, "said done")
    wait_for(lambda: "paused" in browser.find_element(By.XPATH, "//tr[td/a[text()='often']]")
             .text, 10, "the page shows it paused")  # fmt: skip
    click("run now")
    wait_for(lambda: any(e.event == "triggered" for e in site.store.reads.history("often")), 5,
             "triggered")  # fmt: skip
    latest = [(e.event, e.by) for e in site.store.reads.history("often")][:2]
    assert latest == [("triggered", "alice"), ("paused", "alice")]
    browser.get(f"{base}/schedules/nightly")
    assert "2026-06-02T02:30:00+02:00" in browser.page_source
    shoot(browser, "schedule")


def test_an_error_message_full_of_html_stays_text_in_the_browser(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    dead_letter_of_broken(site)
    browser.get(f"http://127.0.0.1:{site.port}/dead")
    cell = browser.find_element(By.CSS_SELECTOR, "table.dead tbody tr td:nth-child(5) code")
    assert cell.text == "ValueError: <script>alert('x')</script>"
    assert browser.execute_script("return document.querySelectorAll('main script').length") == 0
    shoot(browser, "dead-letters")
    browser.get(f"http://127.0.0.1:{site.port}/system")
    shoot(browser, "system")
